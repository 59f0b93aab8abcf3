"""Publishing: validate, re-encode, store in one transaction, then copy the photo to disk."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, redirect, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from extagram import errors, metrics, photos, poster_proof, same_origin, store
from extagram.db import UNAVAILABLE_ERRORS, database_answers, get_db
from extagram.errors import Rejected, upload_too_large_message
from extagram.photo_files import write_photo_file
from extagram.shared_answers import shared_for_a_moment

bp = Blueprint("upload", __name__)


@bp.before_request
def refuse_cross_site_posts():
    # Before the view, so a refused post's body is never parsed.
    if request.method != "POST":
        return
    headers = request.headers
    if not same_origin.is_from_this_site(
        headers.get("Sec-Fetch-Site"), headers.get("Origin"), headers.get("Host")
    ):
        metrics.upload_refused(errors.CROSS_SITE)
        raise Rejected(403, same_origin.CROSS_SITE_MESSAGE, errors.CROSS_SITE)


@bp.post("/upload")
@bp.post("/upload.php")
def publish():
    """Publish, counting the post as accepted or refused (with the reason) for the metrics."""
    try:
        response, with_photo = _publish()
    except Rejected as error:
        metrics.upload_refused(error.reason)
        raise
    except RequestEntityTooLarge:  # the body is over MAX_CONTENT_LENGTH: Flask refuses to parse it
        metrics.upload_refused(errors.TOO_LARGE)
        raise
    except UNAVAILABLE_ERRORS:
        metrics.upload_refused(errors.DATABASE_DOWN)
        raise
    except Exception:
        metrics.upload_refused(errors.OTHER)
        raise
    metrics.upload_accepted(with_photo)
    return response


def _publish() -> tuple[Response, bool]:
    config = current_app.config["EXTAGRAM"]
    text = _validated_text(request.form.get("post"), config.max_text_length)
    photo = _processed_photo(request.files.get("photo"), config.max_upload_bytes)
    photo_name = photos.new_photo_name(photo.extension) if photo else None
    stored = store.Photo(photo.mime_type, photo.data) if photo else None
    post_id = store.publish_post(get_db(), text, photo_name, stored, config.max_photo_storage_bytes)
    if photo:
        # Only after COMMIT, so a failed transaction can never leave an orphan file.
        write_photo_file(config.uploads_dir, photo_name, photo.data, config.uploads_write_timeout)
    # A URL of the poster's own, which S1 never answers from its cache: they see their post.
    proof = poster_proof.issue(config.poster_proof_secret, post_id, config.poster_proof_seconds)
    return redirect(f"/?posted={proof}", code=303), photo is not None


@bp.get("/upload/status")
def status():
    """Would a post be accepted now? Asked by the page's script before the visitor types."""
    if not database_answers("upload status"):
        return jsonify(accepting=False), 503  # no-store (the app's default): never remembered
    # Every open page asks; S1 may answer a "yes" for a moment instead of asking this node each time.
    return shared_for_a_moment(jsonify(accepting=True))


def _validated_text(raw: str | None, max_length: int) -> str:
    text = (raw or "").strip()
    if not text:
        raise Rejected(400, "Please write some text for your post.", errors.NO_TEXT)
    if len(text) > max_length:
        raise Rejected(
            400,
            f"The text is too long: at most {max_length} characters, you sent {len(text)}.",
            errors.TEXT_TOO_LONG,
        )
    return text


def _processed_photo(upload: FileStorage | None, max_bytes: int) -> photos.ProcessedPhoto | None:
    if upload is None:
        return None
    raw = upload.read(max_bytes + 1)
    if not raw:
        return None  # browsers send an empty file part when no photo was chosen
    if len(raw) > max_bytes:
        raise Rejected(413, upload_too_large_message(max_bytes), errors.TOO_LARGE)
    photo = photos.process_photo(raw)
    # Re-encoding can enlarge a tiny, heavily compressed file; the stored copy keeps the cap.
    if len(photo.data) > max_bytes:
        raise Rejected(413, upload_too_large_message(max_bytes), errors.TOO_LARGE)
    return photo
