"""Where the data comes from: the official release, the image datasets (MedMNIST, a user's own, synthetic) and the model zoo's table."""
