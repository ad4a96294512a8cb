"""Networks: the slim InceptionV1, its layer catalogue, TF1 importers and graph surgery (`graph`)."""
