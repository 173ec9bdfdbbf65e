import unittest

from textkit import slugify, truncate


class SlugifyTest(unittest.TestCase):
    def test_words_joined_by_dashes(self):
        self.assertEqual(slugify("Hello, World!"), "hello-world")

    def test_accents_dropped(self):
        self.assertEqual(slugify("Crème brûlée"), "creme-brulee")


class TruncateTest(unittest.TestCase):
    def test_short_text_unchanged(self):
        self.assertEqual(truncate("short", 10), "short")


if __name__ == "__main__":
    unittest.main()
