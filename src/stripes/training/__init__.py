"""stripes.training"""
