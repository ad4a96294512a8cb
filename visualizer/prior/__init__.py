"""Visualizations beyond Lucid's: a StyleGAN2 generative prior and weight ablation.

- `stylegan2`: StyleGAN2's generator in Keras 3 operations;
- `weights`: reading NVlabs' TF1 release pickles (safely) and `.npz` copies;
- `generative`: channel visualization in the generator's W space (the paper's section 2);
- `ablation`: negating a channel's largest filter weights (the paper's figure 5).
"""
