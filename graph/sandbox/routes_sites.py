"""SharePoint lists: `GET /sites/{site}/lists/{list}/items?$expand=fields`, paged.

Pages of `$top` items (default 200; more than 5000 is quietly capped at 5000, as the list
view threshold does) in id order, each with an `@odata.nextLink` carrying a `$skiptoken`
until the last. `expand=fields` and `$expand=fields($select=Title,Email)` both work.
Unknown site or list: 404 itemNotFound.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote

from werkzeug.routing import Rule

from graph.sandbox import permissions
from graph.sandbox.wire import (
    ApiError,
    Ctx,
    decode_token,
    encode_token,
    json_response,
)

PAGE, MAX_PAGE = 200, 5000
EXPAND = re.compile(r"^\s*fields\s*(?:\(\s*\$?select\s*=\s*([^)]*)\))?\s*$", re.IGNORECASE)


def _site(tx, site: str) -> dict:
    found = tx.get("site", site)
    if found is None:
        raise ApiError(404, "itemNotFound", "Requested site could not be found")
    return found


def _list(tx, site: str, list_id: str) -> dict:
    _site(tx, site)
    found = tx.get("list", f"{site}/{list_id}")
    if found is None:
        raise ApiError(404, "itemNotFound", "The specified list was not found")
    return found


def _expansion(ctx: Ctx) -> tuple[bool, list[str] | None]:
    """(expand fields?, only these fields or None for all)."""
    raw = ctx.arg("$expand")
    if not raw:
        return False, None
    match = EXPAND.match(raw)
    if match is None:
        raise ApiError(400, "BadRequest", f"Parsing OData Select and Expand failed: "
                                          f"Could not find a property named '{raw}'.")
    if match.group(1) is None:
        return True, None
    return True, [name.strip() for name in match.group(1).split(",") if name.strip()]


def _shape(item: dict, expand: bool, only: list[str] | None) -> dict:
    shaped = {k: v for k, v in item.items() if k != "fields"}
    if expand:
        fields = item["fields"]
        if only is not None:
            fields = {k: v for k, v in fields.items()
                      if k in only or k in ("@odata.etag", "id")}
        shaped["fields"] = fields
    return shaped


@permissions.requires(permissions.GET_SITE)
def get_site(ctx: Ctx, site: str):
    with ctx.state.read() as tx:
        return json_response({"@odata.context": f"{ctx.graph_url}/$metadata#sites/$entity",
                              **_site(tx, site)})


@permissions.requires(permissions.READ_LIST)
def get_list(ctx: Ctx, site: str, list_id: str):
    with ctx.state.read() as tx:
        return json_response(_list(tx, site, list_id))


@permissions.requires(permissions.READ_LIST_ITEMS)
def list_items(ctx: Ctx, site: str, list_id: str):
    expand, only = _expansion(ctx)
    top = ctx.top(PAGE, MAX_PAGE, strict=False)
    after = 0
    token = ctx.arg("$skiptoken")
    if token:
        values = parse_qs(decode_token(token))
        try:
            after = int(values["p_ID"][0])
        except (KeyError, ValueError) as exc:
            raise ApiError(400, "BadRequest", "The $skiptoken is not valid.") from exc
    with ctx.state.read() as tx:
        _list(tx, site, list_id)
        rows = tx.select("item", scope=f"{site}/{list_id}", num_after=after, limit=top + 1)
    page = [_shape(body, expand, only) for _seq, body in rows[:top]]
    result = {"@odata.context": f"{ctx.graph_url}/$metadata#sites('{site}')/lists('{list_id}')"
                                "/items", "value": page}
    if len(rows) > top:
        last = rows[top - 1][1]["id"]
        query = f"$top={top}&$skiptoken={encode_token(f'Paged=TRUE&p_ID={last}')}"
        if expand:
            query = f"$expand={quote(ctx.arg('$expand') or '', safe='(),=$')}&" + query
        result["@odata.nextLink"] = (f"{ctx.graph_url}/sites/{quote(site)}/lists/"
                                     f"{quote(list_id)}/items?{query}")
    return json_response(result)


@permissions.requires(permissions.READ_LIST_ITEMS)
def get_item(ctx: Ctx, site: str, list_id: str, item: str):
    expand, only = _expansion(ctx)
    with ctx.state.read() as tx:
        _list(tx, site, list_id)
        found = tx.get("item", f"{site}/{list_id}/{item}")
    if found is None:
        raise ApiError(404, "itemNotFound", "The resource could not be found.")
    return json_response(_shape(found, expand, only))


def rules() -> list[Rule]:
    base = "/v1.0/sites/<site>"
    return [
        Rule(base, endpoint=get_site, methods=["GET"]),
        Rule(f"{base}/lists/<list_id>", endpoint=get_list, methods=["GET"]),
        Rule(f"{base}/lists/<list_id>/items", endpoint=list_items, methods=["GET"]),
        Rule(f"{base}/lists/<list_id>/items/<item>", endpoint=get_item, methods=["GET"]),
    ]
