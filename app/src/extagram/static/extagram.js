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

  function setUpLiveFeed() {
    var feed = document.getElementById("feed");
    if (!feed || feed.getAttribute("data-live") !== "on" || !window.fetch) {
      return;
    }
    var latestId = parseInt(feed.getAttribute("data-latest-id"), 10) || 0;
    var timer = null;

    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(poll, delay);
    }

    function showPosts(posts) {
      // Posts arrive oldest first; each goes on top, so the newest ends up first.
      posts.forEach(function (post) {
        if (post.id > latestId && !document.getElementById("post-" + post.id)) {
          feed.insertBefore(buildPost(post), feed.firstChild);
        }
        latestId = Math.max(latestId, post.id);
      });
      var empty = document.getElementById("feed-empty");
      if (empty && posts.length) {
        empty.remove();
      }
    }

    function poll() {
      if (document.hidden) {
        return; // resumed by the visibilitychange listener
      }
      fetch("/api/posts?after=" + latestId, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin"
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (body) {
          showPosts(body.posts);
          schedule(body.has_more ? 0 : POLL_INTERVAL_MS);
        })
        .catch(function () {
          schedule(POLL_INTERVAL_MS * 2);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        schedule(0);
      }
    });
    schedule(POLL_INTERVAL_MS);
  }

  setUpPreview();
  setUpLiveFeed();
})();
