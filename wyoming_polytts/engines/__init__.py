"""Speech engines: plain synchronous code that turns text into samples."""
