"""Networks: the slim InceptionV1, its layer catalogue and TF1 importers."""
