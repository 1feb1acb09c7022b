"""A 50-event tracking plan shaped like a real Segment export, for the bench's plan figures.

Deterministic (a seeded generator): 50 track events of an online shop, each with 6-10 typed
properties, some required, some with an ``enum``, ids with a ``pattern``, a ``products`` array
of typed items on the shop's product and order events; identify, group and global rules. Each
event's schema is draft-07 over the whole event, as Segment exports it (``functions/ingest/plans/
example.json`` is a small one). The sample event (``events/apigw-track.json``, an Order Completed)
is planned and valid: the common case.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Final

from bench.events import api_track_event

__all__ = ["EVENTS", "plan_environment", "tracking_plan", "violating_event", "write_plan"]

_DRAFT: Final = "http://json-schema.org/draft-07/schema#"
EVENTS: Final = (
    "Order Completed", "Product Viewed", "Product Clicked", "Product Added", "Product Removed",
    "Cart Viewed", "Checkout Started", "Checkout Step Viewed", "Checkout Step Completed",
    "Payment Info Entered", "Order Updated", "Order Refunded", "Order Cancelled", "Coupon Entered",
    "Coupon Applied", "Coupon Denied", "Coupon Removed", "Products Searched", "Product List Viewed",
    "Product List Filtered", "Promotion Viewed", "Promotion Clicked", "Product Shared", "Cart Shared",
    "Product Reviewed", "Product Added to Wishlist", "Product Removed from Wishlist",
    "Wishlist Product Added to Cart", "Signed Up", "Signed In", "Signed Out", "Password Reset",
    "Account Deleted", "Trial Started", "Subscription Started", "Subscription Cancelled", "Invite Sent",
    "Email Opened", "Email Link Clicked", "Newsletter Subscribed", "Video Playback Started",
    "Video Playback Paused", "Video Playback Completed", "Video Content Started", "Article Viewed",
    "Form Submitted", "Support Ticket Created", "Store Located", "Feature Used", "Notification Clicked",
)  # fmt: skip
_WITH_PRODUCTS: Final = ("Order", "Product Added", "Product Removed", "Cart", "Checkout", "Wishlist Product")


def _string(description: str, **rules: Any) -> dict[str, Any]:
    return {"description": description, "type": ["string"], **rules}


def _number(description: str, **rules: Any) -> dict[str, Any]:
    return {"description": description, "type": ["number"], **rules}


def _integer(description: str, **rules: Any) -> dict[str, Any]:
    return {"description": description, "type": ["integer"], **rules}


_PRODUCT: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "product_id": _string("The catalogue's product id.", pattern="^p-[a-z0-9-]+$"),
        "sku": _string("Stock keeping unit.", pattern="^SKU-[A-Z0-9-]+$"),
        "name": _string("Product name."),
        "category": _string("Category path."),
        "brand": _string("Brand."),
        "variant": _string("Size, colour."),
        "price": _number("Unit price.", minimum=0),
        "quantity": _integer("Units.", minimum=1),
        "coupon": {"type": ["string", "null"]},
        "position": _integer("Position in a list.", minimum=1),
        "url": _string("Product page."),
        "image_url": _string("Product image."),
    },
    "required": ["product_id"],
}
#: Properties an event may have, beyond its own (picked per event, deterministically).
_POOL: Final = {
    "order_id": _string("The shop's order id.", pattern="^o-[0-9]+$"),
    "checkout_id": _string("Checkout session.", pattern="^c-[a-z0-9]+$"),
    "cart_id": _string("Cart id."),
    "total": _number("Revenue with shipping and taxes.", minimum=0),
    "revenue": _number("Revenue without shipping and taxes.", minimum=0),
    "shipping": _number("Shipping cost.", minimum=0),
    "tax": _number("Taxes.", minimum=0),
    "discount": _number("Discount.", minimum=0),
    "currency": _string("ISO 4217.", enum=["USD", "EUR", "GBP", "CAD", "AUD", "JPY"]),
    "coupon": {"description": "Coupon code.", "type": ["string", "null"]},
    "affiliation": _string("Store or affiliate."),
    "step": _integer("Checkout step.", minimum=1, maximum=10),
    "payment_method": _string("Payment method.", enum=["card", "paypal", "apple_pay", "google_pay"]),
    "shipping_method": _string("Shipping method.", enum=["standard", "express", "pickup"]),
    "list_id": _string("Product list."),
    "category": _string("Category path."),
    "query": _string("Search terms.", maxLength=200),
    "filters": {"type": ["array"], "items": {"type": "object"}},
    "sorts": {"type": ["array"], "items": {"type": "object"}},
    "promotion_id": _string("Promotion."),
    "creative": _string("Creative."),
    "share_via": _string("Channel.", enum=["email", "sms", "facebook", "x", "link"]),
    "rating": _integer("Stars.", minimum=1, maximum=5),
    "review_body": _string("Review text.", maxLength=2000),
    "method": _string("Sign-up or sign-in method.", enum=["email", "google", "apple", "sso"]),
    "plan": _string("Plan.", enum=["free", "pro", "enterprise"]),
    "trial_days": _integer("Trial length.", minimum=0),
    "reason": _string("Reason given."),
    "invitee_email": _string("Invitee.", pattern="^[^@\\s]+@[^@\\s]+$"),
    "campaign_id": _string("Email campaign."),
    "link_url": _string("Link."),
    "session_id": _string("Playback session."),
    "content_asset_id": _string("Video asset."),
    "position": _integer("Playhead, seconds.", minimum=0),
    "total_length": _integer("Length, seconds.", minimum=0),
    "bitrate": _integer("kbit/s.", minimum=0),
    "video_player": _string("Player.", enum=["html5", "youtube", "vimeo"]),
    "full_screen": {"type": ["boolean"]},
    "sound": _integer("Volume.", minimum=0, maximum=100),
    "article_id": _string("Article."),
    "author": _string("Author."),
    "form_id": _string("Form."),
    "ticket_priority": _string("Priority.", enum=["low", "normal", "high", "urgent"]),
    "store_id": _string("Store."),
    "feature": _string("Feature."),
    "notification_id": _string("Notification."),
    "value": _number("Value."),
    "label": {"type": ["string", "null"]},
}
#: The sample event's properties: Order Completed's own, so that event is planned and valid.
_ORDER: Final = (
    "order_id", "total", "revenue", "shipping", "tax", "discount", "currency", "coupon", "affiliation",
)  # fmt: skip


def _event(name: str, pick: random.Random) -> dict[str, Any]:
    if name == "Order Completed":
        chosen = list(_ORDER)
        required = ["order_id", "total", "currency"]
    else:
        chosen = pick.sample(sorted(_POOL), pick.randint(6, 9))
        required = pick.sample(chosen, pick.randint(0, 2))
    properties = {key: _POOL[key] for key in chosen}
    if name.startswith(_WITH_PRODUCTS):
        properties["products"] = {"description": "The products.", "type": ["array"], "items": _PRODUCT}
    elif "Product" in name:
        properties["product_id"] = _PRODUCT["properties"]["product_id"]
    return {
        "name": name,
        "description": f"{name}.",
        "version": 1,
        "rules": {
            "$schema": _DRAFT,
            "type": "object",
            "properties": {
                "context": {},
                "traits": {},
                "properties": {"type": "object", "properties": properties, "required": sorted(required)},
            },
            "required": ["properties"],
        },
    }


def _traits(traits: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": _DRAFT,
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": traits}},
    }


_IDENTIFY: Final = {
    "email": _string("Email.", pattern="^[^@\\s]+@[^@\\s]+$"),
    "name": _string("Full name."),
    "first_name": _string("First name."),
    "last_name": _string("Last name."),
    "plan": _POOL["plan"],
    "createdAt": _string("Sign-up time."),
    "phone": _string("Phone.", pattern="^\\+?[0-9 ().-]{6,20}$"),
    "address": {"type": ["object"]},
}
_GROUP: Final = {
    "name": _string("Company."),
    "industry": _string("Industry."),
    "employees": _integer("Head count.", minimum=0),
    "plan": _POOL["plan"],
    "website": _string("Site."),
}
#: Rules for every call: the SDK, the locale, the page (Segment's "common" rules).
_CONTEXT: Final = {
    "type": "object",
    "properties": {
        "library": {
            "type": "object",
            "properties": {"name": _string("SDK."), "version": _string("SDK version.")},
            "required": ["name", "version"],
        },
        "locale": _string("Locale.", pattern="^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"),
        "page": {
            "type": "object",
            "properties": {key: _string(key) for key in ("path", "referrer", "search", "title", "url")},
        },
    },
}


def tracking_plan(events: int = 50, *, seed: int = 50) -> dict[str, Any]:
    """The plan as Segment's Config API exports it: ``events`` track events (at most 50)."""
    pick = random.Random(seed)  # noqa: S311 - a plan's shape, not a secret
    return {
        "name": "workspaces/bench/tracking-plans/rs_bench",
        "display_name": "Bench shop",
        "rules": {
            "events": [_event(name, pick) for name in EVENTS[:events]],
            "identify": _traits(_IDENTIFY),
            "group": _traits(_GROUP),
            "global": {
                "$schema": _DRAFT,
                "type": "object",
                "properties": {
                    "context": _CONTEXT,
                    "properties": {"type": "object"},
                    "traits": {"type": "object"},
                },
            },
        },
    }


def write_plan(directory: Path) -> Path:
    """The plan written in ``directory``, as ``TRACKING_PLAN`` names it."""
    path = directory / "bench-plan.json"
    path.write_text(json.dumps(tracking_plan(), indent=2))
    return path


def plan_environment(path: Path, mode: str = "flag") -> dict[str, str]:
    return {"TRACKING_PLAN": str(path), "TRACKING_PLAN_MODE": mode}


def violating_event() -> dict[str, Any]:
    """The sample request with its Order Completed breaking the plan twice: ``total`` a string
    (wrong type) and a property the plan does not list (unplanned)."""
    event = api_track_event()
    body = json.loads(event["body"])
    body["properties"]["total"] = str(body["properties"]["total"])
    body["properties"]["gift_wrap"] = True
    event["body"] = json.dumps(body, separators=(",", ":"))
    event["headers"]["content-length"] = str(len(event["body"]))
    return event
