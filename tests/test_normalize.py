"""Tests for wyoming_polytts.speech.normalize: written text -> words to speak."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wyoming_polytts.speech import units
from wyoming_polytts.speech.normalize import clean_markdown, normalize, remove_emoji

# (written, expected) for en-US.  Comparison ignores case only.
ENGLISH = [
    # --- numbers
    ("21", "twenty-one"),
    ("0", "zero"),
    ("21.5", "twenty-one point five"),
    ("0.25", "zero point two five"),
    ("-3 °C", "minus three degrees Celsius"),
    ("It is -12 outside", "It is minus twelve outside"),
    ("1,250 W", "one thousand two hundred and fifty watts"),
    ("1,000,000", "one million"),
    ("3rd", "third"),
    ("21st", "twenty-first"),
    ("the 2nd and 103rd", "the second and one hundred and third"),
    ("5-10 min", "five to ten minutes"),
    ("20–25 °C", "twenty to twenty-five degrees Celsius"),
    ("100-1000 W", "one hundred to one thousand watts"),
    ("1/2", "one half"),
    ("3/4", "three quarters"),
    ("1/3 of it", "one third of it"),
    ("5/8", "five eighths"),
    ("3 1/2 cups", "three and a half cups"),
    ("½ cup", "one half cup"),
    ("in 2024", "in twenty twenty-four"),
    ("1999", "nineteen ninety-nine"),
    ("2005", "two thousand and five"),
    ("1905", "nineteen oh five"),
    ("2020-2024", "twenty twenty to twenty twenty-four"),
    ("the 1990s", "the nineteen nineties"),
    ("the '80s", "the eighties"),
    ("45%", "forty-five percent"),
    ("100 %", "one hundred percent"),
    ("007", "zero zero seven"),
    ("version 2024.12.1", "version two thousand and twenty-four point twelve point one"),
    ("5 * 3", "five times three"),
    # --- units
    ("1 °C", "one degree Celsius"),
    ("72 °F", "seventy-two degrees Fahrenheit"),
    ("21℃", "twenty-one degrees Celsius"),
    ("90°", "ninety degrees"),
    ("1 W", "one watt"),
    ("2.5 kW", "two point five kilowatts"),
    ("1 kWh", "one kilowatt hour"),
    ("12.3 kWh", "twelve point three kilowatt hours"),
    ("500 Wh", "five hundred watt hours"),
    ("230 V", "two hundred and thirty volts"),
    ("16 A", "sixteen amps"),
    ("1 A", "one amp"),
    ("20 mA", "twenty milliamps"),
    ("50 Hz", "fifty hertz"),
    ("300 lx", "three hundred lux"),
    ("40 dB", "forty decibels"),
    ("800 ppm", "eight hundred parts per million"),
    ("12 µg/m³", "twelve micrograms per cubic meter"),
    ("12 ug/m3", "twelve micrograms per cubic meter"),
    ("1013 hPa", "one thousand and thirteen hectopascals"),
    ("1013 mbar", "one thousand and thirteen millibars"),
    ("5 mm", "five millimeters"),
    ("1 cm", "one centimeter"),
    ("3 m", "three meters"),
    ("1 m", "one meter"),
    ("12 km", "twelve kilometers"),
    ("50 km/h", "fifty kilometers per hour"),
    ("$0.32 per kWh today", "thirty-two cents per kilowatt hour today"),
    ("30 cents/kWh", "thirty cents per kilowatt hour"),
    ("5 per m", "five per m"),
    ("3 m/s", "three meters per second"),
    ("30 mph", "thirty miles per hour"),
    ("1 L", "one liter"),
    ("2 L", "two liters"),
    ("250 mL", "two hundred and fifty milliliters"),
    ("1 kg", "one kilogram"),
    ("500 g", "five hundred grams"),
    ("1 lb", "one pound"),
    ("1 min", "one minute"),
    ("2 h", "two hours"),
    ("30 s", "thirty seconds"),
    ("30s", "thirty seconds"),
    ("250 ms", "two hundred and fifty milliseconds"),
    ("1 h 15 min", "one hour fifteen minutes"),
    ("1.0 kWh", "one point zero kilowatt hours"),
    ("5km", "five kilometers"),
    # --- times
    ("14:45", "fourteen forty-five"),
    ("07:05", "seven oh five"),
    ("18:00", "eighteen hundred"),
    ("09:00", "nine o'clock"),
    ("00:00", "midnight"),
    ("14:45:30", "fourteen forty-five and thirty seconds"),
    ("6:30 am", "six thirty a m"),
    ("6.30 a.m.", "six thirty a m."),
    ("at 6.30 pm today", "at six thirty p m today"),
    ("6:30 AM", "six thirty a m"),
    ("7 pm", "seven p m"),
    ("7pm", "seven p m"),
    ("10:00 am", "ten a m"),
    ("at 7:05 p.m. today", "at seven oh five p m today"),
    ("It starts at 7 p.m.", "It starts at seven p m."),
    # --- dates
    ("2024-12-24", "December twenty-fourth, twenty twenty-four"),
    ("12/24/2024", "December twenty-fourth, twenty twenty-four"),
    ("12/24", "December twenty-fourth"),
    ("7/4", "July fourth"),
    ("2024-12-24T18:00:00+00:00", "December twenty-fourth, twenty twenty-four at eighteen hundred"),
    ("Dec 24", "December twenty-fourth"),
    ("December 24, 2024", "December twenty-fourth, twenty twenty-four"),
    ("24 Dec 2024", "the twenty-fourth of December twenty twenty-four"),
    ("on the 5 May", "on the fifth of May"),
    ("Mon", "Monday"),
    ("Tue.", "Tuesday."),
    ("Wed, Thu and Fri", "Wednesday, Thursday and Friday"),
    ("Mon–Fri", "Monday to Friday"),
    ("Sat. and Sun.", "Saturday and Sunday."),
    ("Sat, Jan 4", "Saturday, January fourth"),
    ("Jan 2025", "January twenty twenty-five"),
    ("Sept. report", "September report"),
    # --- money
    ("$5", "five dollars"),
    ("$1", "one dollar"),
    ("$3.50", "three dollars and fifty cents"),
    ("$0.50", "fifty cents"),
    ("$1,250", "one thousand two hundred and fifty dollars"),
    ("$1.5M", "one point five million dollars"),
    ("-$5", "minus five dollars"),
    ("€20", "twenty euros"),
    ("20 €", "twenty euros"),
    ("20€", "twenty euros"),
    ("5 EUR", "five euros"),
    ("£1.99", "one pound and ninety-nine pence"),
    ("£1", "one pound"),
    ("50¢", "fifty cents"),
    # --- abbreviations
    ("Dr. Smith", "Doctor Smith"),
    ("Ask Dr. Jones", "Ask Doctor Jones"),
    ("Main St.", "Main Street."),
    ("Main St. is closed", "Main Street is closed"),
    ("St. Louis", "Saint Louis"),
    ("Mr Brown", "Mister Brown"),
    ("approx. 5 W", "approximately five watts"),
    ("Approx. 5 W", "Approximately five watts"),
    ("e.g. lights", "for example lights"),
    ("i.e. off", "that is off"),
    ("lights, fans, etc.", "lights, fans, et cetera."),
    ("lights, fans, etc. are on", "lights, fans, et cetera are on"),
    ("cats vs. dogs", "cats versus dogs"),
    ("No. 5", "number five"),
    ("N/A", "not available"),
    ("24/7", "twenty-four seven"),
    # --- symbols
    ("salt & pepper", "salt and pepper"),
    ("2 + 2 = 4", "two plus two equals four"),
    ("+5 °C", "plus five degrees Celsius"),
    ("on/off", "on or off"),
    ("~5 min", "about five minutes"),
    ("± 0.5 °C", "plus or minus zero point five degrees Celsius"),
    ("#3", "number three"),
    ("meet @ home", "meet at home"),
    ("<5 ppm", "less than five parts per million"),
    ("A → B", "A to B"),
    # --- phone numbers, addresses
    ("+1 555-123-4567", "plus one, five five five, one two three, four five six seven"),
    ("555-1234", "five five five, one two three four"),
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    ("192.168.1.20", "one nine two dot one six eight dot one dot two zero"),
    (
        "192.168.1.20:8123",
        "one nine two dot one six eight dot one dot two zero port eight one two three",
    ),
    ("https://www.home-assistant.io/docs", "home-assistant dot io"),
    ("See https://www.home-assistant.io/docs.", "See home-assistant dot io."),
    ("http://homeassistant.local:8123/lovelace", "homeassistant dot local"),
    ("http://192.168.1.5/x", "one nine two dot one six eight dot one dot five"),
    ("Visit github.com/foo/bar.", "Visit github dot com."),
    ("john.doe@example.com", "john dot doe at example dot com"),
    ("mailto:me@my-site.org", "me at my-site dot org"),
    # --- Markdown and emoji
    ("**bold** text", "bold text"),
    ("*italic* text", "italic text"),
    ("_under_ text", "under text"),
    ("***both***", "both"),
    ("~~gone~~ here", "gone here"),
    ("run `ha core restart`", "run ha core restart"),
    ("# Weather", "Weather."),
    ("## Weather today ##", "Weather today."),
    ("> quoted text", "quoted text"),
    ("See [the docs](https://example.com) now", "See the docs now"),
    ("![a cat](cat.png) Cat", "Cat"),
    ("- eggs\n- milk\n- bread", "eggs, milk, bread."),
    ("* eggs\n* milk", "eggs, milk."),
    ("1. Open the app\n2. Tap Settings", "Open the app, Tap Settings."),
    ("Shopping:\n- eggs!\n- milk", "Shopping: eggs! milk."),
    (
        "| Room | Temp |\n|---|---|\n| Kitchen | 21 °C |",
        "Room, Temp. Kitchen, twenty-one degrees Celsius.",
    ),
    ("Great job 🎉!", "Great job!"),
    ("Thumbs 👍🏽 up", "Thumbs up"),
    ("Love ❤️ it", "Love it"),
    ("Family 👨‍👩‍👧 time", "Family time"),
    ("Flags 🇩🇪🇺🇸 wave", "Flags wave"),
    ("Done ✅", "Done"),
    ("line one<br>line two", "line one line two"),
]

# Plain text must come back as it went in.
UNCHANGED = [
    "The light in the kitchen is on.",
    "I'm turning it off.",
    "A lamp is on.",
    "Press the m key.",
    "The sun sat on the may pole.",
    "We may go on Sunday.",
    "It is well-known and up-to-date.",
    "Use the ESP32 board with 1080p video.",
    "Hello, world! How are you?",
    "Don't worry; it's fine.",
    "The A team won.",
    "March on, soldiers.",
    "I saw Sat and Sun in the list.",
]

OTHER_LANGUAGES = [
    ("es", "Son 21,5 grados", "Son veintiuno punto cinco grados"),
    ("es-MX", "1.250 vatios", "mil doscientos cincuenta vatios"),
    ("fr", "Il fait -3,5 degrés", "Il fait moins trois virgule cinq degrés"),
    ("fr-FR", "**Bonjour** 😀 21", "Bonjour vingt et un"),
    ("it", "Sono 21 gradi", "Sono ventuno gradi"),
    ("pt-BR", "Custa 21 reais", "Custa vinte e um reais"),
    ("de", "Es sind 21 Grad", "Es sind einundzwanzig Grad"),
    ("es", "Mira https://example.com/x", "Mira example.com"),
    ("hi", "तापमान 21 डिग्री है", "तापमान 21 डिग्री है"),
    ("ja", "**気温**は21度です😀", "気温は21度です"),
    ("ja", "午後3時15分、〒100-0001", "午後3時15分、〒100-0001"),
    ("zh", "温度是21度。", "温度是21度。"),
    ("zh-CN", "- 第一\n- 第二", "第一, 第二."),
]

ENGLISH_LOCALES = [
    ("en-GB", "24/12/2024", "the twenty-fourth of December twenty twenty-four"),
    ("en-GB", "24/12", "the twenty-fourth of December"),
    ("en-GB", "2024-12-24", "the twenty-fourth of December twenty twenty-four"),
    ("en-GB", "5 m", "five metres"),
    ("en-GB", "1 L", "one litre"),
    ("en-GB", "£1.99", "one pound and ninety-nine pence"),
    ("en", "12/24", "December twenty-fourth"),
    ("en_US", "5 m", "five meters"),
    ("EN-us", "21", "twenty-one"),
]


@pytest.mark.parametrize(("written", "spoken"), ENGLISH)
def test_english(written: str, spoken: str) -> None:
    assert normalize(written, "en-US").lower() == spoken.lower()


@pytest.mark.parametrize("text", UNCHANGED)
def test_plain_text_unchanged(text: str) -> None:
    assert normalize(text) == text


@pytest.mark.parametrize(("language", "written", "spoken"), OTHER_LANGUAGES)
def test_other_languages(language: str, written: str, spoken: str) -> None:
    assert normalize(written, language).lower() == spoken.lower()


@pytest.mark.parametrize(("language", "written", "spoken"), ENGLISH_LOCALES)
def test_english_locales(language: str, written: str, spoken: str) -> None:
    assert normalize(written, language).lower() == spoken.lower()


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "**", "- ", "|", "```", "😀", "#"])
def test_empty_and_punctuation_only(text: str) -> None:
    assert isinstance(normalize(text), str)
    assert normalize(text).strip() == normalize(text)


def test_default_language_is_english() -> None:
    assert normalize("21") == "twenty-one"


def test_unknown_language_keeps_numbers() -> None:
    assert normalize("**x** 21", "xx-YY") == "x 21"


def test_huge_numbers_are_read_as_digits() -> None:
    assert normalize("12345678901234567890") == " ".join(
        units.DIGITS[int(c)] for c in "12345678901234567890"
    )


def test_deterministic() -> None:
    text = "At 14:45 it was 21.5 °C, $3.50 for 1 kWh on 2024-12-24 🎉"
    assert len({normalize(text) for _ in range(5)}) == 1


def test_clean_markdown_and_remove_emoji_are_usable_alone() -> None:
    assert clean_markdown("**a** and _b_") == "a and b"
    assert remove_emoji("ok 👍").strip() == "ok"
    assert remove_emoji("21 °C ©") == "21 °C ©"


def test_unit_tables_are_well_formed() -> None:
    for symbol, names in units.UNITS.items():
        assert symbol and len(names) == 2 and all(names), symbol
    for symbol, names in units.CURRENCIES.items():
        assert symbol and len(names) == 4 and names[0] and names[1], symbol


LANGUAGES = ["en-US", "en-GB", "es", "fr", "it", "pt-BR", "de", "hi", "ja", "zh", "", "x"]

_TRICKY = st.sampled_from(
    list("0123456789.,:/-–+$€£%°*_#|`~@&<>![]()\n ")
    + ["km/h", "µg/m³", "am", "pm", "St.", "Dr.", "Jan", "Mon", "Sat", "http://", "www.", "😀"]
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80), language=st.sampled_from(LANGUAGES))
def test_fuzz_arbitrary_text_never_raises(text: str, language: str) -> None:
    assert isinstance(normalize(text, language), str)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_TRICKY, max_size=25), language=st.sampled_from(LANGUAGES))
def test_fuzz_number_like_text_never_raises(parts: list, language: str) -> None:
    assert isinstance(normalize("".join(parts), language), str)
