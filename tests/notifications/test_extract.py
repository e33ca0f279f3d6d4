"""Reply extraction: what a person wrote in an emailed reply, as it would be posted in the conversation.

The fixtures are emails we wrote in the shapes the common mail clients produce (Gmail, Outlook desktop and
web, Apple Mail, iOS, Android, Thunderbird, Yahoo, Roundcube) in the five languages Parley speaks, each with
the exact text a person expects to see posted. No database is needed.
"""

# The expected replies hold real typography (en dashes, curly quotes), as mail does.
# ruff: noqa: RUF001

import email
import email.message
import email.policy
import io
import subprocess
import sys
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from notifications.extract import (
    MARKER_CLOSE,
    MARKER_OPEN,
    Extracted,
    html_to_text,
    reply_extract,
    text_reply_split,
)
from notifications.management.commands.extract_reply import CUT_SEPARATOR

FIXTURES = Path(__file__).parent / "fixtures" / "replies"

PDF = "application/pdf"
JPEG = "image/jpeg"
RFC822 = "message/rfc822"

# file name: (expected reply, the part it comes from, the files as (name, content type))
CASES = {
    "gmail_en_alternative.eml": (
        "Hi Anna,\n\nyes, Friday works. The truck leaves our yard at 6:00, so expect it around noon.\n\nTom",
        "html",
        [],
    ),
    "gmail_de_signature_base64.eml": (
        "Hallo Marta,\n\ndanke, Position 3 ist korrekt. Bei Position 4 fehlen uns zwei Paletten – können Sie "
        "das prüfen?\n\nViele Grüße\nJonas",
        "html",
        [],
    ),
    "gmail_pl_text_only.eml": (
        "Dzień dobry,\n\ntak, wtorek pasuje. Potwierdzimy godzinę dostawy jutro rano.\n\nPozdrawiam\nMarta",
        "text",
        [],
    ),
    "gmail_ptbr_base64.eml": (
        "Olá Anna,\n\nConseguimos sim. A entrega fica para o dia 26, com nota fiscal no mesmo dia.\n\n"
        "Abraços,\nBeatriz",
        "html",
        [],
    ),
    "gmail_fi_alternative.eml": (
        "Hei Anna,\n\ntoimitus on aikataulussa, rekka lähtee torstaina.\n\nTerveisin\nMikko",
        "html",
        [],
    ),
    "gmail_attachments_encoded_names.eml": (
        "Hi Anna,\n\nthe order confirmation and the price list are attached, and here is our loading bay:"
        "\n\nTom",
        "html",
        [
            ("rampa.png", "image/png"),  # inline in the HTML, still a file
            ("Potwierdzenie zamówienia 55_2024.pdf", PDF),  # RFC 2231; a slash is no folder
            ("Cennik 2024 – łaty.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ],
    ),
    "gmail_forward_with_note_en.eml": ("Anna, the carrier moved the pickup, see below.", "text", []),
    "android_gmail_en_text.eml": ("Ok", "text", []),
    "outlook_desktop_en_cp1252.eml": (
        "Hi Anna,\n\nWe’ll ship on Friday – the invoice follows separately (€ 12,480.00 net).\n\n"
        "Kind regards,\nTom Kowalczyk",
        "html",
        [],
    ),
    "outlook_desktop_de_text_latin1.eml": (
        "Hallo Frau Nowak,\n\ndie Positionen 3 und 4 sind geprüft und in Ordnung. Die Zahlung erfolgt zum "
        "28.02.\n\nMit freundlichen Grüßen\nJonas Weber",
        "text",
        [],
    ),
    "outlook_desktop_fi_text.eml": (
        "Hei,\n\nkyllä, toimitus on torstaina klo 14.\n\nYstävällisin terveisin\nMikko Virtanen",
        "text",
        [],
    ),
    "outlook2010_pl_html_iso88592.eml": (
        "Dzień dobry,\n\nfaktura korygujaca została wysłana pocztą.\n\nMarta",
        "html",
        [],
    ),
    "outlook_web_en.eml": ("Hello Anna,\n\nconfirmed for Friday, 40 pallets.\n\nTom", "html", []),
    "outlook_web_pl_html_only_iso88592.eml": (
        "Dzień dobry,\n\ndostawa we wtorek jest możliwa, ale dopiero po godzinie 12:00.\n\nZ poważaniem\n"
        "Marta Nowak",
        "html",
        [],
    ),
    # Outlook on the web keeps the configured signature (and its sign-off) in div#Signature: cut with it.
    "outlook_web_ptbr.eml": ("Bom dia Anna,\n\npedido confirmado, segue a nota fiscal amanhã.", "html", []),
    "outlook_ios_fi.eml": ("Kiitos, tämä riittää.", "html", []),
    "apple_mail_en.eml": (
        "Anna,\n\nFriday is fine. I’ll send the CMR as soon as the truck is loaded.\n\nTom",
        "html",
        [],
    ),
    "apple_mail_de_inline_image.eml": (
        "Hallo Marta,\n\nanbei das Foto der beschädigten Palette:\n\nGruß, Jonas",
        "html",
        [("Beschädigte Palette.jpeg", JPEG), ("Lieferschein Lübeck.pdf", PDF)],
    ),
    "apple_mail_forward_ptbr.eml": ("Segue a nota fiscal que o financeiro enviou.\n\nBeatriz", "text", []),
    "iphone_en_text.eml": ("Yes, Friday. Will confirm the time later.", "text", []),
    "iphone_pl_alternative.eml": ("Tak, wtorek po 12:00.", "html", []),
    "iphone_ptbr_text.eml": ("Perfeito, obrigada!", "text", []),
    "iphone_fi_html_only.eml": ("Kyllä on, torstaina.", "html", []),
    "iphone_photo_only.eml": ("", "text", [("IMG_0412.jpeg", JPEG)]),
    "samsung_android_de.eml": ("Passt, danke!", "html", []),
    "thunderbird_en_flowed.eml": (
        "Hi Anna, we can deliver on Friday, but only 38 pallets: two of them did not pass our moisture check "
        "this morning and we do not want to send wet wood.\n\nTom",
        "text",
        [],
    ),
    "thunderbird_de_html_latin1.eml": (
        "Hallo Frau Nowak,\n\ndie Gutschrift für Position 4 über 2 Paletten ist bei uns eingegangen. Vielen "
        "Dank!\n\nGrüße aus Lübeck\nJonas Weber",
        "html",
        [],
    ),
    "thunderbird_pl_flowed_delsp_iso88592.eml": (
        "Dzień dobry, potwierdzamy dostawę we wtorek po godzinie dwunastej. Kierowca zadzwoni pół godziny "
        "wcześniej.\n\nMarta",
        "text",
        [],
    ),
    "thunderbird_bottom_post_en.eml": ("Friday is fine, 40 pallets.\n\nTom", "text", []),
    "bottom_posted_fi.eml": ("On aikataulussa, rekka lähtee torstaina.\n\nMikko", "text", []),
    "yahoo_en.eml": ("Thanks, see you Friday.\nTom", "html", []),
    "roundcube_de_html.eml": (
        "Guten Tag,\n\ndie Lieferung kam vollständig an.\n\nGrüße\nJ. Weber",
        "html",
        [],
    ),
    "html_only_script.eml": (
        "Confirmed & booked: 40 pallets, Friday.\n\nPrice per m³ stays at 182€ <net>.",
        "html",
        [],
    ),
    "html_marker_no_container_ptbr.eml": ("Sim, conseguimos em duas semanas.\nBeatriz", "html", []),
    "html_generic_blockquote_interleaved.eml": (
        "My answers below.\n> Can you deliver on Friday?\nYes, before noon.\n> And the price?\n"
        "As agreed in January.",
        "html",
        [],
    ),
    "interleaved_reply_en.eml": (
        "Hi Anna, answers inline.\n\n> Can you deliver the 40 pallets on Friday?\n\nYes, Friday morning.\n\n"
        "> And can you send the CMR in advance?\n\nI will send it on Thursday evening.",
        "text",
        [],
    ),
    "quote_then_answer_pl.eml": ("> Czy możecie przesunąć dostawę na wtorek?\n\nTak, możemy.", "text", []),
    "marker_only_text.eml": ("Noted, thank you.\n- Anna", "text", []),
    "marker_wrapped_quoted_de.eml": ("Einverstanden.", "text", []),
    "signature_dashes_en.eml": ("Please use gate 3 on Friday.", "text", []),
    "windows1252_text.eml": (
        "The “Friday” slot is confirmed – freight is € 640, as agreed.\n\nTom",
        "text",
        [],
    ),
    "iso88591_mislabelled_cp1252.eml": ("Die „Gutschrift“ kommt heute. Grüße, Jonas", "text", []),
    "undeclared_charset_latin1.eml": ("Selvä, kiitos! Päätös tulee huomenna.\n\nMikko", "text", []),
    "unknown_charset_label.eml": ("Hyvää viikonloppua! – Mikko", "text", []),
    "broken_base64_pl.eml": ("Odebraliśmy towar, wszystko się zgadza.\n\nMarta", "text", []),
    "attached_rfc822.eml": (
        "Die Bestätigung der Spedition hänge ich an.\n\nJonas",
        "text",
        [("Abholung bestaetigt.eml", RFC822)],
    ),
    "bounce_report.eml": (
        "This is the mail system at host mx.baltictimber.pl.\n\nI'm sorry to have to inform you that your "
        "message could not\nbe delivered to one or more recipients.",
        "text",
        [("PO 4711 delivery.eml", RFC822)],  # the delivery-status part is no file
    ),
    "no_text_part.eml": ("", "", [("scan_0212.pdf", PDF)]),
}


def load(name: str, policy=email.policy.default) -> email.message.Message:
    return email.message_from_bytes((FIXTURES / name).read_bytes(), policy=policy)


def test_every_fixture_has_an_expected_reply():
    assert sorted(path.name for path in FIXTURES.glob("*.eml")) == sorted(CASES)
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_reply(name):
    text, source, files = CASES[name]
    extracted = reply_extract(load(name))
    assert extracted.text == text
    assert extracted.source == source
    assert [(item.name, item.content_type) for item in extracted.attachments] == files


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_reply_from_a_compat32_message(name):
    """The default policy of the email package (compat32) gives the same reply and files."""
    text, _source, files = CASES[name]
    extracted = reply_extract(load(name, policy=email.policy.compat32))
    assert extracted.text == text
    assert [(item.name, item.content_type) for item in extracted.attachments] == files


def test_cut_keeps_the_quoted_history_as_text():
    extracted = reply_extract(load("gmail_en_alternative.eml"))
    assert extracted.cut.startswith(
        "On Mon, 12 Feb 2024 at 10:15, Parley <reply+Xk29fQ@parley.example> wrote:"
    )
    assert "Can you deliver the 40 pallets on Friday?" in extracted.cut
    assert "<" + "div" not in extracted.cut


def test_cut_holds_the_signature_and_nothing_when_nothing_was_cut():
    assert reply_extract(load("signature_dashes_en.eml")).cut == (
        "-- \nTom Kowalczyk\nLogistics, Baltic Timber Sp. z o.o.\n+48 58 000 00 00"
    )
    assert reply_extract(load("undeclared_charset_latin1.eml")).cut == ""


def test_files_are_decoded():
    files = reply_extract(load("apple_mail_de_inline_image.eml")).attachments
    assert files[0].data.startswith(b"\xff\xd8") and files[0].data.endswith(b"\xff\xd9")
    assert files[1].data.startswith(b"%PDF-1.4")


def test_an_attached_email_is_a_file_not_the_body():
    extracted = reply_extract(load("attached_rfc822.eml"))
    assert "ATTACHED EMAIL" not in extracted.text
    assert b"THIS TEXT BELONGS TO THE ATTACHED EMAIL" in extracted.attachments[0].data


def test_script_content_never_reaches_the_reply_or_the_cut():
    extracted = reply_extract(load("html_only_script.eml"))
    for secret in ("SCRIPT", "STYLE TEXT", "ONLOAD", "evil.example", "enable JavaScript", "tracking"):
        assert secret not in extracted.text and secret not in extracted.cut


# --- text rules ------------------------------------------------------------------------------------------

ATTRIBUTIONS = [
    "On Mon, 12 Feb 2024 at 10:15, Anna Schmidt <anna@nordwind.example> wrote:",
    "On 12 Feb 2024, at 10:15, Anna Schmidt <anna@nordwind.example> wrote:",
    "On 12.02.24 10:15, Anna Schmidt wrote:",
    "---- On Mon, 12 Feb 2024 10:15:00 +0100 Anna Schmidt <anna@nordwind.example> wrote ----",
    "Anna Schmidt <anna@nordwind.example> wrote:",
    "2024-02-12 10:15 GMT+01:00 Anna Schmidt <anna@nordwind.example>:",
    "Am Mo., 12. Feb. 2024 um 10:15 Uhr schrieb Anna Schmidt <anna@nordwind.example>:",
    "Am 12.02.24 um 10:15 schrieb Anna Schmidt:",
    "Anna Schmidt <anna@nordwind.example> schrieb am Mo., 12. Feb. 2024, 10:15:",
    "pon., 12 lut 2024 o 10:15 Anna Schmidt <anna@nordwind.example> napisał(a):",
    "W dniu 12.02.2024 o 10:15, Anna Schmidt pisze:",
    "Wiadomość napisana przez Anna Schmidt <anna@nordwind.example> w dniu 12.02.2024, o godz. 10:15:",
    "Em seg., 12 de fev. de 2024 às 10:15, Anna Schmidt <anna@nordwind.example> escreveu:",
    "Em 12 de fev. de 2024, à(s) 10:15, Anna Schmidt <anna@nordwind.example> escreveu:",
    "ma 12.2.2024 klo 10.15 Anna Schmidt (anna@nordwind.example) kirjoitti:",
    "Anna Schmidt <anna@nordwind.example> kirjoitti 12.2.2024 kello 10.15:",
    "12.2.2024 10.15, Anna Schmidt kirjoitti:",
    "Le lun. 12 févr. 2024 à 10:15, Anna Schmidt <anna@nordwind.example> a écrit :",
    "El lun, 12 feb 2024 a las 10:15, Anna Schmidt (<anna@nordwind.example>) escribió:",
    "Op ma 12 feb. 2024 om 10:15 schreef Anna Schmidt <anna@nordwind.example>:",
    "Il giorno lun 12 feb 2024 alle ore 10:15 Anna Schmidt <anna@nordwind.example> ha scritto:",
    "Den mån 12 feb. 2024 kl 10:15 skrev Anna Schmidt <anna@nordwind.example>:",
]


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
def test_attribution_line_starts_the_history(attribution):
    body = f"Thanks, that works.\n\n{attribution}\n\n> Can you deliver on Friday?\n> Anna\n"
    reply, cut = text_reply_split(body)
    assert reply == "Thanks, that works."
    assert cut.startswith(attribution)


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, 12 Feb 2024 at 10:15, Anna Schmidt <\nanna@nordwind.example> wrote:",
        "On Mon, 12 Feb 2024 at 10:15, Anna Schmidt <anna@nordwind.example>\nwrote:",
        'Le 12 févr. 2024 à 10:15, "Anna Schmidt"\n<anna@nordwind.example>\na écrit :',
        "Anna Schmidt <anna@nordwind.example> schrieb am Mo., 12.\nFeb. 2024 um 10:15 Uhr:",
        "Em 12 de fevereiro de 2024 10:15, Anna <\nanna@nordwind.example> escreveu:",
    ],
)
def test_attribution_wrapped_by_the_client(attribution):
    reply, _cut = text_reply_split(f"Thanks, that works.\n\n{attribution}\n\n> Can you deliver on Friday?\n")
    assert reply == "Thanks, that works."


@pytest.mark.parametrize(
    "block",
    [
        "From: Anna Schmidt <anna@nordwind.example>\nSent: Monday, February 12, 2024 10:15 AM\n"
        "To: Tom\nSubject: PO 4711",
        "*From:* Anna Schmidt\n*Sent:* Monday, February 12, 2024 10:15\n*To:* Tom\n*Subject:* PO 4711",
        "________________________________\nFrom: Anna Schmidt\nSent: 12 February 2024 10:15\nTo: Tom",
        "-----Original Message-----\nFrom: Anna Schmidt\nSent: 12 February 2024 10:15",
        "Von: Anna Schmidt <anna@nordwind.example>\nGesendet: Montag, 12. Februar 2024 10:15\nAn: Tom\n"
        "Betreff: PO 4711",
        "-----Ursprüngliche Nachricht-----\nVon: Anna Schmidt",
        "Od: Anna Schmidt <anna@nordwind.example>\nWysłano: poniedziałek, 12 lutego 2024 10:15\nDo: Tom\n"
        "Temat: PO 4711",
        "-----Wiadomość oryginalna-----\nOd: Anna Schmidt",
        "De: Anna Schmidt <anna@nordwind.example>\nEnviado: segunda-feira, 12 de fevereiro de 2024 10:15\n"
        "Para: Tom\nAssunto: PO 4711",
        "-----Mensagem original-----\nDe: Anna Schmidt",
        "Lähettäjä: Anna Schmidt <anna@nordwind.example>\nLähetetty: maanantai 12. helmikuuta 2024 10.15\n"
        "Vastaanottaja: Tom\nAihe: PO 4711",
        "-----Alkuperäinen viesti-----\nLähettäjä: Anna Schmidt",
        "Begin forwarded message:\n\nFrom: Anna Schmidt",
        "---------- Forwarded message ---------\nFrom: Anna Schmidt <anna@nordwind.example>",
    ],
)
def test_outlook_header_blocks_and_separators_start_the_history(block):
    reply, cut = text_reply_split(f"Confirmed.\n\n{block}\n\nCan you deliver on Friday?\n")
    assert reply == "Confirmed."
    assert "Can you deliver on Friday?" in cut


@pytest.mark.parametrize(
    "signature",
    [
        "Sent from my iPhone",
        "Sent from my Android phone",
        "Sent from Mail for Windows",
        "Get Outlook for Android",
        "Von meinem iPhone gesendet",
        "Gesendet von meinem Samsung Galaxy",
        "Wysłane z mojego iPhone'a",
        "Wysłane z aplikacji Poczta w systemie Windows",
        "Enviado do meu iPhone",
        "Enviado do meu smartphone Samsung Galaxy",
        "Lähetetty iPhonesta",
        "Lähetetty Samsung Galaxy -laitteesta",
        "Hanki Outlook for Android",
        "Envoyé de mon iPhone",
    ],
)
def test_device_signature_ends_the_reply(signature):
    reply, cut = text_reply_split(f"See you on Friday.\n\n{signature}\n")
    assert reply == "See you on Friday."
    assert cut == signature


def test_signature_delimiters():
    assert text_reply_split("Fine.\n-- \nTom\nLogistics")[0] == "Fine."
    assert text_reply_split("Fine.\n\n__\nTom\nLogistics")[0] == "Fine."
    assert text_reply_split("Fine.\n\n*****\nTom Kowalczyk\n+48 58 000 00 00")[0] == "Fine."


@pytest.mark.parametrize(
    "body",
    [
        "On Friday we wrote to the carrier about the pallets.\nThey will call back.",
        "We talked about it:\nOn 12 March we agreed on 40 pallets.\nPlease confirm.",
        "I already sent it.\nSent from my office yesterday, the copy is in the post.\nTom",
        "From: our warehouse in Gdynia\nTo the gate 3.",
        "The papers are on their way.\n\nSent via DHL, tracking number 1234.",
        "Os papéis já saíram.\n\nEnviado de volta ao fornecedor ontem.",
        "Paperit ovat matkalla.\n\nLähetetty paketti saapui Helsingistä.",
        "Points to check:\n\n---\n\n" + "\n".join(f"{n}. item number {n}" for n in range(1, 10)),
        "Code:\n```\n####\n# comment\n####\n```\nEnd.",
        "> Only a quote, nothing else.",
    ],
)
def test_text_that_merely_looks_like_history_is_kept(body):
    assert text_reply_split(body) == (body.strip(), "")


def test_trailing_quote_block_is_cut_and_leading_quote_kept():
    assert text_reply_split("Yes.\n\n> Can you?\n> Anna\n") == ("Yes.", "> Can you?\n> Anna")
    assert text_reply_split("> Can you?\n\nYes.")[0] == "> Can you?\n\nYes."


def test_quoted_history_alone_gives_nothing():
    body = "> On Mon, 12 Feb 2024 at 10:15, Anna <anna@nordwind.example> wrote:\n>\n>> Can you?\n"
    assert text_reply_split(body)[0] == ""


MARKERS = [
    "Please type your reply above this line",
    "Bitte schreiben Sie Ihre Antwort über dieser Zeile",
    "Prosimy wpisać odpowiedź nad tą linią",
    "Digite sua resposta acima desta linha",
    "Kirjoita vastauksesi tämän rivin yläpuolelle",
]


@pytest.mark.parametrize("words", MARKERS)
@pytest.mark.parametrize("prefix", ["", "> ", ">> "])
def test_marker_in_any_language_ends_the_reply(words, prefix):
    body = (
        f"Agreed, 40 pallets.\n\n{prefix}{MARKER_OPEN} {words} {MARKER_CLOSE}\n{prefix}\n{prefix}Hello Tom,\n"
    )
    reply, cut = text_reply_split(body)
    assert reply == "Agreed, 40 pallets."
    assert cut.startswith(f"{prefix}{MARKER_OPEN} {words}")


def test_marker_needs_its_closing_half():
    body = "The code is ##-42 in our system.\nThanks"
    assert text_reply_split(body)[0] == body


def test_reply_below_a_quoted_marker_is_found():
    body = "> ##- Please type your reply above this line -##\n> Can you deliver?\n\nYes, on Friday.\n"
    assert text_reply_split(body) == (
        "Yes, on Friday.",
        "> ##- Please type your reply above this line -##\n> Can you deliver?",
    )


def test_declared_utf8_with_a_broken_byte_keeps_the_other_characters():
    message = email.message_from_bytes(
        b"Content-Type: text/plain; charset=utf-8\n\nGr\xc3\xbc\xc3\x9fe \xff aus L\xc3\xbcbeck\n"
    )
    assert reply_extract(message).text == "Grüße \ufffd aus Lübeck"


def test_html_with_an_unclosed_head_still_shows_the_body():
    assert html_to_text("<html><head><title>Re: PO</title><p>Fine by us.</p>") == "Fine by us."


def test_line_endings_and_surrounding_blank_lines():
    assert text_reply_split("\r\n\r\nFirst\r\nsecond\r\n\r\n") == ("First\nsecond", "")
    assert text_reply_split("") == ("", "")


# --- HTML ------------------------------------------------------------------------------------------------


def test_html_to_text_blocks_breaks_entities_and_lists():
    html = (
        "<div>Hello&nbsp;<b>Anna</b>,</div><div><br></div><div>prices &amp; terms:</div>"
        "<ul><li>oak</li><li>pine</li></ul><ol><li>first</li><li>second</li></ol>"
        "<p>See <a href='https://parley.example/c/1'>the order</a>.</p><pre>  a\n  b</pre>"
    )
    assert html_to_text(html) == (
        "Hello Anna,\n\nprices & terms:\n- oak\n- pine\n1. first\n2. second\n\n"
        "See the order (https://parley.example/c/1).\n\n  a\n  b"
    )


@pytest.mark.parametrize(
    "html",
    [
        "<p>Hi</p><script>alert('X')</script>",
        "<p>Hi</p><script>alert('X')",
        "<p>Hi</p><style>p{}</style><script type=module>/*X*/</script><noscript>X</noscript>",
        "<p>Hi</p>" + "<div>" * 5000 + "<script>X</script>" + "</div>" * 5000,
        "<p>Hi</p>" + "<div>" * 5000 + "<style>X</style>",
        "<p>Hi</p><scr<script>ipt>X</script>",
        "<p>Hi</p><svg><script>X</script></svg><template>X</template>",
    ],
)
def test_html_scripts_and_styles_never_reach_the_text(html):
    text = html_to_text(html)
    assert text.startswith("Hi")
    assert "X" not in text and "alert" not in text


def test_outlook_empty_paragraphs_are_blank_lines():
    html = (
        "<p class=MsoNormal>Hi<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
        "<p class=MsoNormal>Ok</p>"
    )
    assert html_to_text(html) == "Hi\n\nOk"


def test_html_marker_cuts_at_its_element():
    message = MIMEText(
        "<div>Yes.</div><table><tr><td><p>##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##</p>"
        "<p>Hallo Jonas</p></td></tr></table>",
        "html",
        "utf-8",
    )
    extracted = reply_extract(message)
    assert extracted.text == "Yes."
    assert extracted.cut.startswith("##- Bitte")


# --- hostile input ---------------------------------------------------------------------------------------


def nested_multipart(depth: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    closing = b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    return b"MIME-Version: 1.0\n" + opening + b"Content-Type: text/plain\n\nhello\n" + closing


@pytest.mark.parametrize("depth", [5, 300])
def test_deeply_nested_multiparts(depth):
    extracted = reply_extract(email.message_from_bytes(nested_multipart(depth), policy=email.policy.default))
    assert extracted.text == ("hello" if depth == 5 else "")  # past 40 levels nothing is read


def test_a_megabyte_body_is_read_linearly():
    reply = "We confirm the order."
    history = "".join(f"> line {n} of a long quoted history with some words in it\n" for n in range(17_000))
    body = f"{reply}\n\nOn Mon, 12 Feb 2024 at 10:15, Anna <anna@nordwind.example> wrote:\n{history}"
    assert len(body) > 1_000_000
    assert text_reply_split(body)[0] == reply
    message = MIMEText(body, "plain", "utf-8")
    assert reply_extract(message).text == reply


def test_a_megabyte_line_and_a_megabyte_of_broken_html():
    assert text_reply_split("x" * 1_000_000)[0] == "x" * 1_000_000
    assert html_to_text("<a" * 500_000) == "<a" * 500_000
    assert html_to_text("<!--" * 250_000).startswith("<!--")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x80\x81",
        b"Subject: headers only\n",
        b'Content-Type: multipart/mixed; boundary="x"\n\nno parts at all',
        b'Content-Type: multipart/alternative; boundary="x"\n\n--x\nContent-Type: text/html\n\n<p>hi',
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n!!!!====",
        b"Content-Type: text/plain; charset=rot13\n\nplain",
        b'Content-Type: text/html; charset=""\n\n<meta charset=zlib><p>hi</p>',
        b"Content-Type: application/octet-stream; name*=bogus''%%%\nContent-Disposition: attachment\n\nxx",
        b"Content-Type: text/plain; format=flowed; delsp=yes\n\n" + b" \n" * 1000,
    ],
)
def test_malformed_messages_never_raise(raw):
    for policy in (email.policy.default, email.policy.compat32):
        extracted = reply_extract(email.message_from_bytes(raw, policy=policy))
        assert isinstance(extracted, Extracted)
        assert isinstance(extracted.text, str)


def test_a_broken_message_object_gives_empty_text():
    class Broken(email.message.Message):
        def get_content_type(self):
            raise ValueError("broken")

    assert reply_extract(Broken()) == Extracted(text="", cut="", attachments=[], source="")


def test_a_message_built_in_python_with_str_payloads():
    message = MIMEMultipart("alternative")
    message.attach(
        MIMEText("Grüße aus Lübeck\n\nAm 12.02.24 um 10:15 schrieb Parley:\n> Hallo", "plain", "utf-8")
    )
    assert reply_extract(message).text == "Grüße aus Lübeck"


# --- the management command ------------------------------------------------------------------------------


def run_command(*args: str, stdin: bytes) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("extract_reply", *args, stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_the_reply_and_lists_files_on_stderr():
    out, err = run_command(stdin=(FIXTURES / "apple_mail_de_inline_image.eml").read_bytes())
    assert out == "Hallo Marta,\n\nanbei das Foto der beschädigten Palette:\n\nGruß, Jonas\n"
    assert err.splitlines() == [
        "attachment: Beschädigte Palette.jpeg\timage/jpeg\t67 bytes",
        "attachment: Lieferschein Lübeck.pdf\tapplication/pdf\t77 bytes",
    ]


def test_command_with_cut_prints_what_was_cut_after_a_separator():
    out, _err = run_command("--cut", stdin=(FIXTURES / "signature_dashes_en.eml").read_bytes())
    signature = "-- \nTom Kowalczyk\nLogistics, Baltic Timber Sp. z o.o.\n+48 58 000 00 00"
    assert out == f"Please use gate 3 on Friday.\n{CUT_SEPARATOR}\n{signature}\n"


def test_command_with_body_reads_a_bare_text_body():
    body = b"Passt.\n\nAm 12.02.24 um 10:15 schrieb Parley:\n> Hallo\n"
    assert run_command("--body", stdin=body) == ("Passt.\n", "")


def test_command_reads_the_real_standard_input():
    result = subprocess.run(
        [sys.executable, "manage.py", "extract_reply"],
        input=(FIXTURES / "iphone_en_text.eml").read_bytes(),
        capture_output=True,
        check=True,
        cwd=Path(settings.BASE_DIR),
    )
    assert result.stdout.decode() == "Yes, Friday. Will confirm the time later.\n"
