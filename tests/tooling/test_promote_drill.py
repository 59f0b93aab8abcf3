"""The promotion drill's writer thread, without the lab: it posts until stopped, then ends."""

import time

from extagram_lab import promote_drill


class CountingSite:
    """Stands in for the site: the thread's own start, loop and stop are what is tested."""

    def __init__(self):
        self.posts = 0

    def post(self, text, timeout):
        self.posts += 1
        return text


def test_the_writer_posts_until_stopped_and_then_ends(monkeypatch):
    monkeypatch.setattr(promote_drill, "POST_INTERVAL_S", 0.01)
    site = CountingSite()
    writer = promote_drill.Writer(site)
    writer.start()
    time.sleep(0.2)
    writer.stop()
    assert not writer.is_alive()
    assert site.posts == len(writer.results) > 1
    posted = site.posts
    time.sleep(0.05)
    assert site.posts == posted
