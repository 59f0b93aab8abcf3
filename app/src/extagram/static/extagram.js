// Extagram page behaviour: photo preview before publishing, and live feed updates.
// CSP-friendly: loaded from /static, no inline code; user text only ever goes in textContent.
(function () {
  "use strict";

  var POLL_INTERVAL_MS = 4000;

  function setUpPreview() {
    var input = document.getElementById("composer-photo");
    var preview = document.getElementById("composer-preview");
    if (!input || !preview) {
      return;
    }
    var objectUrl = null;
    input.addEventListener("change", function () {
      if (objectUrl) {
        URL.revokeObjectURL(objectUrl);
        objectUrl = null;
      }
      var file = input.files && input.files[0];
      if (file && file.type.indexOf("image/") === 0) {
        objectUrl = URL.createObjectURL(file);
        preview.src = objectUrl;
        preview.classList.add("chosen");
      } else {
        preview.src = preview.getAttribute("data-placeholder");
        preview.classList.remove("chosen");
      }
    });
  }

  function formatUtc(isoText) {
    // "2024-05-01T12:34:56Z" -> "2024-05-01 12:34 UTC", the same text the server renders.
    return isoText.slice(0, 16).replace("T", " ") + " UTC";
  }

  function buildPost(post) {
    var article = document.createElement("article");
    article.className = "card post fresh";
    article.id = "post-" + post.id;

    var text = document.createElement("p");
    text.className = "post-text";
    text.textContent = post.text;
    article.appendChild(text);

    if (post.photo_url) {
      var photo = document.createElement("img");
      photo.className = "post-photo";
      photo.src = post.photo_url;
      photo.alt = "";
      article.appendChild(photo);
    }

    var time = document.createElement("time");
    time.className = "post-time";
    time.dateTime = post.created_at;
    time.textContent = formatUtc(post.created_at);
    article.appendChild(time);
    return article;
  }

  // Every page polls the same URL, so S1 answers all of them from one cached copy.
  var POSTS_URL = "/api/posts";
  var STATUS_URL = "/upload/status";
  var JITTER = 0.2; // +-20 %, so pages opened together drift apart
  var MAX_BACKOFF_MS = 60000;
  var MAX_POSTS_ON_PAGE = 200; // a page left open for hours stays this size

  function jittered(ms) {
    return ms * (1 - JITTER + Math.random() * 2 * JITTER);
  }

  // After n failures in a row: somewhere between half and all of base * 2^n (capped), so
  // browsers do not all come back at the same moment after an outage.
  function backoff(baseMs, failures) {
    var ceiling = Math.min(MAX_BACKOFF_MS, baseMs * Math.pow(2, failures));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  // The answer to a GET of `url` (with extra `headers`), never from the browser's cache; an
  // error status throws, a 304 (nothing new since the tag sent) is an answer.
  function answerTo(url, headers) {
    var options = {
      headers: Object.assign({ Accept: "application/json" }, headers),
      cache: "no-store",
      credentials: "same-origin"
    };
    return fetch(url, options).then(function (response) {
      if (!response.ok && response.status !== 304) {
        throw new Error("HTTP " + response.status);
      }
      return response;
    });
  }

  function getJson(url) {
    return answerTo(url).then(function (response) {
      return response.json();
    });
  }

  // A repeating task that runs only while the page is visible and never stacks timers.
  function loop(task) {
    var timer = null;
    var runner = {
      after: function (delay) {
        clearTimeout(timer);
        timer = setTimeout(function () {
          if (!document.hidden) {
            task();
          }
        }, delay);
      }
    };
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        runner.after(0);
      }
    });
    return runner;
  }

  function setUpPostingStatus(intervalMs, retryMs) {
    var notice = document.getElementById("site-notice");
    var publish = document.querySelector(".composer .publish");
    if (!notice || !publish || !window.fetch) {
      return function () {};
    }
    var failures = 0;
    function show(accepting) {
      notice.hidden = accepting;
      publish.disabled = !accepting;
    }
    var checks = loop(function () {
      getJson(STATUS_URL)
        .then(function (body) {
          failures = 0;
          show(body.accepting === true);
          checks.after(jittered(intervalMs));
        })
        .catch(function () {
          failures += 1;
          show(false);
          checks.after(Math.min(intervalMs, backoff(retryMs, failures)));
        });
    });
    checks.after(0);
    return function checkNow() {
      checks.after(0);
    };
  }

  function articles(feed) {
    return feed.querySelectorAll("article.post");
  }

  function postId(article) {
    return parseInt(article.id.slice("post-".length), 10);
  }

  // In id order, not simply on top: a post whose commit came late still lands in its place.
  function insertInOrder(feed, post) {
    var list = articles(feed);
    for (var i = 0; i < list.length; i += 1) {
      if (postId(list[i]) < post.id) {
        feed.insertBefore(buildPost(post), list[i]);
        return;
      }
    }
    feed.appendChild(buildPost(post));
  }

  function keepBounded(feed) {
    var list = articles(feed);
    if (list.length <= MAX_POSTS_ON_PAGE) {
      return;
    }
    for (var i = MAX_POSTS_ON_PAGE; i < list.length; i += 1) {
      list[i].remove();
    }
    var older = document.querySelector(".pager .older");
    if (older) {
      older.href = "/?before=" + postId(list[MAX_POSTS_ON_PAGE - 1]);
    }
  }

  function setUpLiveFeed(pollMs, checkPostingNow) {
    var feed = document.getElementById("feed");
    if (!feed || feed.getAttribute("data-live") !== "on" || !window.fetch) {
      return;
    }
    var failures = 0;

    function showPosts(posts) {
      posts.forEach(function (post) {
        if (!document.getElementById("post-" + post.id)) {
          insertInOrder(feed, post);
        }
      });
      var empty = document.getElementById("feed-empty");
      if (empty && articles(feed).length) {
        empty.remove();
      }
      keepBounded(feed);
    }

    function newestShown() {
      var first = articles(feed)[0];
      return first ? postId(first) : 0;
    }

    // More posts arrived between two polls than the newest page holds: fetch the ones between.
    function catchUp(after) {
      return getJson(POSTS_URL + "?after=" + after).then(function (body) {
        showPosts(body.posts);
        if (body.has_more && body.posts.length) {
          return catchUp(body.posts[body.posts.length - 1].id);
        }
      });
    }

    // The tag of the newest page last seen: sent back, it gets a 304 without a body (a few hundred
    // bytes) while nothing has changed, instead of the whole page again.
    var seenTag = null;
    function newestPage() {
      return answerTo(POSTS_URL, seenTag ? { "If-None-Match": seenTag } : {}).then(function (response) {
        if (response.status === 304) {
          return null;
        }
        seenTag = response.headers.get("ETag");
        return response.json();
      });
    }

    var polls = loop(function () {
      var known = newestShown();
      newestPage()
        .then(function (body) {
          if (!body) {
            return null;
          }
          var oldest = body.posts.length ? body.posts[body.posts.length - 1].id : 0;
          showPosts(body.posts);
          return body.has_more && oldest > known + 1 ? catchUp(known) : null;
        })
        .then(function () {
          failures = 0;
          polls.after(jittered(pollMs));
        })
        .catch(function () {
          failures += 1;
          checkPostingNow();
          polls.after(backoff(pollMs, failures));
        });
    });
    polls.after(jittered(pollMs));
  }

  function setUpPage() {
    var feed = document.getElementById("feed");
    var pollMs = (feed && parseInt(feed.getAttribute("data-poll-ms"), 10)) || 1200;
    var healthMs = (feed && parseInt(feed.getAttribute("data-health-ms"), 10)) || 15000;
    var checkPostingNow = setUpPostingStatus(healthMs, pollMs);
    setUpLiveFeed(pollMs, checkPostingNow);
  }

  setUpPreview();
  setUpPage();
})();
