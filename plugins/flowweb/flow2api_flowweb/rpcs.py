"""What each flow.google.com batchexecute rpc id does, in words (spec flow-google-batchexecute.md §4).

Error messages name the action ("could not generate the images") and keep the rpc id in parentheses for
support (:mod:`flow2api_flowkit.wording`); an id not in the table reads "could not run <id>".
"""

from __future__ import annotations

from collections.abc import Mapping

from flow2api_flowkit.wording import action_of, in_words

HOST = "flow.google.com"

#: rpc id → what it does, as the object of "could not …" (spec §4 RPC catalogue).
RPC_ACTIONS: Mapping[str, str] = {
    "jHPbke": "create a project",
    "QI2zvc": "delete a project",
    "UpteDb": "list the projects",
    "ngNC2": "read the project",
    "Zzl0ze": "list the project's media",
    "pGCYOe": "archive the media",
    "cz8Z4b": "delete the media",
    "maseQ": "upload the input image",
    "ogiZ0b": "generate the images",
    "SPrCad": "upscale the image",
    "YhhmEf": "start the text-to-video job",
    "eb1hJf": "start the image-to-video job",
    "nprQif": "start the first-and-last-frame video job",
    "MZZa6b": "start the reference-images video job",
    "fZytfe": "extend the video",
    "jIps6": "edit the video",
    "p0UkFb": "upscale the video",
    "jwpduf": "check the job's status",
    "as29s": "read the media record",
    "nzlxg": "read the account's credits and tier",
    "HTrJv": "read the model catalogue",
    "cPZSdc": "read the app configuration",
    "o30O0e": "read the account's name and e-mail",
}

COOKIES_HINT = "the Google cookies expired or are signed out; paste fresh cookies for the account in the admin site"


def failure(rpcid: str, status: str, hint: str, *, what: str | None = None, detail: str = "") -> str:
    """``flow.google.com could not <action of rpcid> (rpc <rpcid>, <status>[: <detail>]): <hint>``.

    ``what`` replaces "could not <action>" (``refused the request``); ``status`` is a gRPC name
    (``NOT_FOUND``), ``HTTP 503`` or a reason; ``detail`` upstream's reasons and message.
    """
    return in_words(HOST, what or f"could not {action_of(RPC_ACTIONS, rpcid)}", f"rpc {rpcid}", status, hint,
                    detail=detail)
