"""Text for the self-supervised text methods and CLIP's text towers: tokenisation and corpora."""
