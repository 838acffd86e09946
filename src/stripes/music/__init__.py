"""stripes.music"""
