"""Long-Range Arena ([LRA]) data: the ListOps generator with its structure intact, and readers
of the release formats of ListOps, Text (byte-level IMDB), Retrieval (AAN pairs) and Image
(grayscale CIFAR-10). Data code only: no model (docs/lra.md)."""
