"""How a buyer's supplier record is recognised as a Parley supplier: by email domain or by normalized name."""

import re
import unicodedata

# Legal-form words dropped before names are compared ("Acme GmbH" and "ACME Inc." are one company).
LEGAL_SUFFIXES = {
    "ab",
    "ag",
    "as",
    "bv",
    "co",
    "company",
    "corp",
    "corporation",
    "eireli",
    "gmbh",
    "inc",
    "incorporated",
    "kg",
    "kgaa",
    "limited",
    "llc",
    "ltd",
    "ltda",
    "me",
    "nv",
    "oy",
    "oyj",
    "plc",
    "sa",
    "sarl",
    "se",
    "spa",
    "sp",
    "spzoo",
    "srl",
    "ug",
    "zoo",
    "ohg",
    "mbh",
}
# Public mailbox providers say nothing about which company an address belongs to.
FREEMAIL_DOMAINS = {
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "yahoo.com",
    "icloud.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "wp.pl",
    "o2.pl",
    "onet.pl",
    "interia.pl",
    "uol.com.br",
    "bol.com.br",
    "terra.com.br",
    "suomi24.fi",
    "luukku.com",
    "proton.me",
    "protonmail.com",
    "aol.com",
}


def name_key(name: str) -> str:
    """Lowercase, without accents, punctuation or legal form: "Sabiá Varejo Ltda." -> "sabia varejo"."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    # "Sp. z o.o." and "S.A." lose their dots first so they become the words "sp z oo" and "sa".
    text = re.sub(r"\b([a-z])\.(?=[a-z]\.?)", r"\1", text)
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    while words and (words[-1] in LEGAL_SUFFIXES or words[-1] in {"z", "o", "oo", "s"}):
        words.pop()
    return " ".join(words)


def email_domain(email: str) -> str:
    """The domain of an address, lowercased; empty for public mailbox providers, which match nobody."""
    domain = email.rpartition("@")[2].strip().lower()
    return "" if domain in FREEMAIL_DOMAINS else domain


def record_keys(name: str, contact_email: str) -> dict[str, str]:
    """The indexed fields a supplier record is matched on, derived from what the buyer typed."""
    return {"name_key": name_key(name), "email_domain": email_domain(contact_email)}
