"""The TensorBoard side: the plugin loader, its routes, stores over the data provider, and the built tab."""
