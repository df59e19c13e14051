"""What every service of this layer shares; public to all of them."""
