"""Speech text preparation: normalization of written text into words to be spoken."""
