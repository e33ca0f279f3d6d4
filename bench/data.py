"""Synthetic but plausible text for the seeded history: company and person names, subjects, message bodies.

Plain templates filled from a seeded random generator, so a size always holds the same data. The common
search term ("delivery") is in roughly a third of the trade messages; the selective and isolation terms are
planted by seed.py and appear nowhere here.
"""

import random

COMMON_TERM = "delivery"
SELECTIVE_TERM = "quetzal"  # in a dozen messages of the busy supplier and a dozen of others
CANARY_TERM = "xylophone"  # only in other organizations' messages: the busy supplier must never find it

PLACES = [
    "Nordic", "Baltic", "Alpine", "Iberian", "Atlas", "Helios", "Orion", "Vega", "Sierra", "Kestrel",
    "Aurora", "Granite", "Meridian", "Harbor", "Lakeside", "Pioneer", "Summit", "Cedar", "Falcon", "Polar",
    "Riverside", "Westmark", "Eastgate", "Silverline", "Bluewater", "Redwood", "Ironbridge", "Goldfield",
]  # fmt: skip
SUPPLIER_TRADES = [
    "Industrial Supply", "Components", "Packaging", "Metals", "Plastics", "Chemicals", "Textiles",
    "Electronics", "Fasteners", "Bearings", "Paper Mills", "Glassworks",
]  # fmt: skip
BUYER_TRADES = [
    "Handel", "Retail", "Foods", "Logistics", "Manufacturing", "Hospitals", "Automotive", "Hardware",
    "Furniture", "Pharma", "Building Materials", "Wholesale",
]  # fmt: skip
MERCHANT_TRADES = ["Goods", "Tea House", "Outfitters", "Bakery", "Ceramics", "Bikes", "Books", "Apparel"]
LEGAL_FORMS = ["GmbH", "Oy", "Ltda.", "Sp. z o.o.", "Inc.", "AB", "S.A.", "Ltd", "AG", "B.V."]
FIRST_NAMES = [
    "Anna", "Jonas", "Maria", "Mikko", "Ewa", "João", "Lena", "Tomasz", "Sofia", "Lucas", "Aino", "Piotr",
    "Clara", "Felipe", "Hanna", "Oskar", "Marta", "Rafael", "Emma", "Jakub", "Laura", "Matti", "Julia",
]  # fmt: skip
LAST_NAMES = [
    "Schmidt", "Virtanen", "Kowalski", "Silva", "Müller", "Nieminen", "Nowak", "Santos", "Weber", "Korhonen",
    "Wiśniewski", "Oliveira", "Fischer", "Mäkinen", "Lewandowska", "Costa", "Becker", "Laine", "Wójcik",
]  # fmt: skip

TRADE_SUBJECTS = [
    "Delivery schedule for week {week}",
    "Question about order {po}",
    "Price update for {year}",
    "Damaged cartons in shipment {n}",
    "Payment terms of invoice {inv}",
    "Quality certificate for item {sku}",
    "Forecast for Q{quarter}",
    "Packaging specification change",
    "Samples of the new item {sku}",
    "Order confirmation {po}",
    "Lead times after the holidays",
    "Credit note for returned goods",
]
TRADE_BODIES = [
    "Could you confirm the delivery date for order {po}? We need the goods by {date}.",
    "The pallets for {po} left our warehouse this morning, tracking number {track}.",
    "Invoice {inv} is attached. Payment terms are 30 days net as agreed.",
    "We received {qty} units instead of {qty2}. Please advise how to proceed.",
    "Thanks, the revised quote looks good. Please go ahead with the delivery.",
    "Our quality team found {qty} damaged cartons in the last delivery. Photos follow.",
    "Can you send the safety data sheet for item {sku}?",
    "From {date} the unit price of {sku} changes to {price} EUR, because of raw material costs.",
    "Please ship the remaining {qty} pieces together with next week's delivery.",
    "We are closed on {date} for the inventory count; deliveries resume the next day.",
    "Confirmed. The truck arrives between 8 and 10 at gate {gate}.",
    "Is a partial delivery acceptable for {po}? {qty} units are ready now.",
    "Noted, we will update the order in our system today.",
    "Could you split the invoice by cost centre? Finance needs it for {po}.",
    "The certificate of conformity for batch {track} is attached.",
    "Our forecast for the next quarter is about {qty} units a month, give or take ten percent.",
    "The new packaging spec is in the shared folder; the change applies from {date}.",
    "We can offer {price} EUR per unit for orders above {qty} pieces.",
    "Please use the new delivery address from {date}: Dock {gate}, Building C.",
    "Thank you, received in good order.",
    "Any update on the backorder for {sku}? Our stock runs out on {date}.",
    "The delivery note was missing from the shipment; could you email a copy?",
    "We moved the pickup to {date} because of the public holiday.",
    "Your credit note of {price} EUR has been booked.",
]
PARTNER_SUBJECTS = [
    "Theme customization for {store}",
    "Migrating {store} from another platform",
    "SEO audit for {store}",
    "Product photography for {store}",
    "Checkout integration for {store}",
    "Monthly marketing support for {store}",
]
PARTNER_BODIES = [
    "Hi! We'd like to redesign the product page of {store}. Could you share your availability?",
    "Thanks for reaching out. I can start on {date}; the estimate is {qty} hours.",
    "Here is the first draft of the homepage, let me know what you think.",
    "Could you give us staff access to the store admin so we can install the app?",
    "The migration of {qty} products finished; please review the collections.",
    "We noticed slow pages on mobile; compressing the images should help.",
    "Looks great, just one change: the banner text should be larger.",
    "I've sent a proposal with the scope we discussed.",
    "Our budget is around {price} EUR for this phase.",
    "The redirects for the old URLs are in place now.",
    "Can we have a short call on {date} to go through the checkout flow?",
    "All done on our side. Thanks for the quick feedback!",
]


def company_name(rng: random.Random, trades: list[str], number: int) -> str:
    return f"{rng.choice(PLACES)} {rng.choice(trades)} {number} {rng.choice(LEGAL_FORMS)}"


def person_name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


_MAKERS = {
    "po": lambda rng, fields: f"45{rng.randint(0, 99_999_999):08d}",
    "inv": lambda rng, fields: f"90{rng.randint(0, 9_999_999):07d}",
    "date": lambda rng, fields: f"{rng.randint(1, 28)}.{rng.randint(1, 12)}.",
    "qty": lambda rng, fields: rng.randint(2, 500),
    "qty2": lambda rng, fields: fields["qty"] + rng.randint(1, 20),
    "sku": lambda rng, fields: f"SKU-{rng.randint(1000, 99999)}",
    "price": lambda rng, fields: f"{rng.randint(1, 900)}.{rng.randint(0, 99):02d}",
    "track": lambda rng, fields: f"TR{rng.randint(10**8, 10**9 - 1)}",
    "gate": lambda rng, fields: rng.randint(1, 24),
    "week": lambda rng, fields: rng.randint(1, 52),
    "year": lambda rng, fields: rng.choice([2025, 2026]),
    "quarter": lambda rng, fields: rng.randint(1, 4),
    "n": lambda rng, fields: rng.randint(100, 999),
}


class _Fields(dict):
    """Template values made on first use only: a message draws the few random numbers it shows."""

    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> object:
        value = self[key] = _MAKERS[key](self.rng, self)
        return value


def trade_subject(rng: random.Random) -> str:
    return rng.choice(TRADE_SUBJECTS).format_map(_Fields(rng))


def partner_subject(rng: random.Random, store: str) -> str:
    return rng.choice(PARTNER_SUBJECTS).format(store=store)


def trade_body(rng: random.Random) -> str:
    """One to three sentences; about a third of them mention a delivery."""
    fields = _Fields(rng)
    return " ".join(rng.choice(TRADE_BODIES).format_map(fields) for _ in range(rng.choice((1, 1, 2, 3))))


def partner_body(rng: random.Random, store: str) -> str:
    fields = _Fields(rng)
    fields["store"] = store
    return " ".join(rng.choice(PARTNER_BODIES).format_map(fields) for _ in range(rng.choice((1, 1, 2))))


def quoted_history(previous: str, name: str) -> str:
    """What a mail client quotes under a reply: kept by the service beside a message that came by email."""
    lines = "\n".join(f"> {line}" for line in previous.splitlines() or [""])
    marker = "> ##- Please type your reply above this line -##"
    return f"On Monday, {name} <no-reply@parley.localhost> wrote:\n{marker}\n{lines}"
