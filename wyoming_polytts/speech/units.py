"""Data tables for :mod:`wyoming_polytts.speech.normalize`.

Everything here is data: units, currencies, symbols, abbreviations and calendar names.
The rules that use them live in ``normalize.py``.  English spellings are US; the
normalizer swaps "meter"/"liter" for "metre"/"litre" in other English locales.
"""

from __future__ import annotations

from typing import Dict, Tuple

# Unit symbol written after a number -> (singular, plural).  Matching is case-sensitive
# and longest-first, and only directly after a number (so "A lamp" and "I'm" are safe).
UNITS: Dict[str, Tuple[str, str]] = {
    # temperature
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    # ratios
    "%": ("percent", "percent"),
    "ppm": ("part per million", "parts per million"),
    "ppb": ("part per billion", "parts per billion"),
    # power and energy
    "W": ("watt", "watts"),
    "mW": ("milliwatt", "milliwatts"),
    "kW": ("kilowatt", "kilowatts"),
    "MW": ("megawatt", "megawatts"),
    "Wh": ("watt hour", "watt hours"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "KWh": ("kilowatt hour", "kilowatt hours"),
    "kwh": ("kilowatt hour", "kilowatt hours"),
    "MWh": ("megawatt hour", "megawatt hours"),
    "VA": ("volt-ampere", "volt-amperes"),
    "W/m²": ("watt per square meter", "watts per square meter"),
    "W/m2": ("watt per square meter", "watts per square meter"),
    # electricity
    "V": ("volt", "volts"),
    "mV": ("millivolt", "millivolts"),
    "kV": ("kilovolt", "kilovolts"),
    "A": ("amp", "amps"),
    "mA": ("milliamp", "milliamps"),
    "Ω": ("ohm", "ohms"),
    "kΩ": ("kilohm", "kilohms"),
    # frequency
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "rpm": ("revolution per minute", "revolutions per minute"),
    # light and sound
    "lx": ("lux", "lux"),
    "lm": ("lumen", "lumens"),
    "dB": ("decibel", "decibels"),
    "dBm": ("decibel milliwatt", "decibel milliwatts"),
    "dBA": ("decibel A", "decibels A"),
    # air quality
    "µg/m³": ("microgram per cubic meter", "micrograms per cubic meter"),
    "μg/m³": ("microgram per cubic meter", "micrograms per cubic meter"),
    "µg/m3": ("microgram per cubic meter", "micrograms per cubic meter"),
    "μg/m3": ("microgram per cubic meter", "micrograms per cubic meter"),
    "ug/m³": ("microgram per cubic meter", "micrograms per cubic meter"),
    "ug/m3": ("microgram per cubic meter", "micrograms per cubic meter"),
    "mg/m³": ("milligram per cubic meter", "milligrams per cubic meter"),
    "mg/m3": ("milligram per cubic meter", "milligrams per cubic meter"),
    # pressure
    "Pa": ("pascal", "pascals"),
    "hPa": ("hectopascal", "hectopascals"),
    "kPa": ("kilopascal", "kilopascals"),
    "mbar": ("millibar", "millibars"),
    "bar": ("bar", "bars"),
    "psi": ("psi", "psi"),
    "inHg": ("inch of mercury", "inches of mercury"),
    "mmHg": ("millimeter of mercury", "millimeters of mercury"),
    # length and area
    "mm": ("millimeter", "millimeters"),
    "cm": ("centimeter", "centimeters"),
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "m²": ("square meter", "square meters"),
    "m³": ("cubic meter", "cubic meters"),
    "m³/h": ("cubic meter per hour", "cubic meters per hour"),
    "mm/h": ("millimeter per hour", "millimeters per hour"),
    # speed
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kmh": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "mph": ("mile per hour", "miles per hour"),
    # volume
    "L": ("liter", "liters"),
    "l": ("liter", "liters"),
    "mL": ("milliliter", "milliliters"),
    "ml": ("milliliter", "milliliters"),
    "L/min": ("liter per minute", "liters per minute"),
    "L/h": ("liter per hour", "liters per hour"),
    "gal": ("gallon", "gallons"),
    # mass
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "kg": ("kilogram", "kilograms"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    # time
    "ms": ("millisecond", "milliseconds"),
    "s": ("second", "seconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    # data
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "Mbps": ("megabit per second", "megabits per second"),
    "Mbit/s": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    # money written as a unit
    "¢": ("cent", "cents"),
}

# Currency symbol or code -> (major singular, major plural, minor singular, minor plural).
# An empty minor unit means the currency is read with decimals ("point").
CURRENCIES: Dict[str, Tuple[str, str, str, str]] = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "US$": ("dollar", "dollars", "cent", "cents"),
    "USD": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""),
    "JPY": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "paisa", "paise"),
    "INR": ("rupee", "rupees", "paisa", "paise"),
    "CHF": ("franc", "francs", "centime", "centimes"),
    "₩": ("won", "won", "", ""),
    "₿": ("bitcoin", "bitcoins", "", ""),
}

# Scale words after an amount ("$1.5M", "€2 billion").
SCALES: Dict[str, str] = {
    "k": "thousand",
    "K": "thousand",
    "thousand": "thousand",
    "M": "million",
    "m": "million",
    "mn": "million",
    "million": "million",
    "B": "billion",
    "bn": "billion",
    "billion": "billion",
    "T": "trillion",
    "trillion": "trillion",
}

# Case-insensitive abbreviations; the trailing period is optional when matching.
ABBREVIATIONS: Dict[str, str] = {
    "approx.": "approximately",
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "et cetera",
    "vs.": "versus",
    "incl.": "including",
    "excl.": "excluding",
    "w/o": "without",
    "a.k.a.": "also known as",
    "aka": "also known as",
    "esp.": "especially",
    "p.s.": "P S",
}

# Case-sensitive titles and address words (period optional unless noted in the code).
TITLES: Dict[str, str] = {
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miz",
    "Prof.": "Professor",
    "Jr.": "Junior",
    "Sr.": "Senior",
    "Mt.": "Mount",
    "Ave.": "Avenue",
    "Blvd.": "Boulevard",
    "Rd.": "Road",
    "Apt.": "Apartment",
    "Fig.": "Figure",
    "Dept.": "Department",
}

# Titles whose period may be left out ("Mr Smith", "Dr Jones", "St Albans").
TITLES_DOT_OPTIONAL: Tuple[str, ...] = ("Mr.", "Mrs.", "Ms.", "Dr.", "St.")

# Abbreviations that read differently before a name and after one:
# (before a capitalized word, after a capitalized word or number).
CONTEXT_ABBREVIATIONS: Dict[str, Tuple[str, str]] = {
    "St.": ("Saint", "Street"),
    "Dr.": ("Doctor", "Drive"),
}

# Whole tokens replaced as they are.
SPECIAL_TOKENS: Dict[str, str] = {
    "24/7": "twenty-four seven",
    "N/A": "not available",
    "n/a": "not available",
}

# Symbols read aloud wherever they are left after the number rules ran.
SYMBOLS: Dict[str, str] = {
    "&": "and",
    "+": "plus",
    "=": "equals",
    "±": "plus or minus",
    "≈": "approximately",
    "≠": "is not equal to",
    "≤": "at most",
    "≥": "at least",
    "→": "to",
    "←": "from",
    "×": "times",
    "÷": "divided by",
    "@": "at",
}

# Symbols read aloud only before a number.
SYMBOLS_BEFORE_NUMBER: Dict[str, str] = {
    "~": "about",
    "#": "number",
    "<": "less than",
    ">": "more than",
    "<=": "at most",
    ">=": "at least",
    "No.": "number",
    "no.": "number",
    "Nr.": "number",
}

# Characters mapped to plainer ones before anything else runs.
CHARACTER_MAP: Dict[str, str] = {
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "\u2007": " ",
    "\u2212": "-",
    "\u2010": "-",
    "\u2011": "-",
    "℃": "°C",
    "℉": "°F",
    "º": "°",
    "½": " 1/2",
    "¼": " 1/4",
    "¾": " 3/4",
    "⅓": " 1/3",
    "⅔": " 2/3",
    "⅛": " 1/8",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
}

# Denominator -> (singular, plural) names for fractions.
FRACTION_NAMES: Dict[int, Tuple[str, str]] = {
    2: ("half", "halves"),
    4: ("quarter", "quarters"),
}

MONTHS: Tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

MONTH_ABBREVIATIONS: Dict[str, str] = {
    "Jan": "January",
    "Feb": "February",
    "Mar": "March",
    "Apr": "April",
    "Jun": "June",
    "Jul": "July",
    "Aug": "August",
    "Sep": "September",
    "Sept": "September",
    "Oct": "October",
    "Nov": "November",
    "Dec": "December",
}

# Always expanded when capitalized (they are not English words).
WEEKDAY_ABBREVIATIONS: Dict[str, str] = {
    "Mon": "Monday",
    "Tue": "Tuesday",
    "Tues": "Tuesday",
    "Wed": "Wednesday",
    "Thu": "Thursday",
    "Thur": "Thursday",
    "Thurs": "Thursday",
    "Fri": "Friday",
}

# Words too: only expanded with a period or next to a date, time or another weekday.
AMBIGUOUS_WEEKDAY_ABBREVIATIONS: Dict[str, str] = {
    "Sat": "Saturday",
    "Sun": "Sunday",
}

WEEKDAYS: Tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)

# Top-level domains recognised in bare host names ("home-assistant.io").
TOP_LEVEL_DOMAINS: Tuple[str, ...] = (
    "com",
    "org",
    "net",
    "io",
    "dev",
    "app",
    "ai",
    "edu",
    "gov",
    "info",
    "co",
    "uk",
    "de",
    "fr",
    "nl",
    "eu",
    "local",
    "lan",
    "arpa",
)

# Spoken names for characters inside e-mail addresses and host names.
ADDRESS_CHARACTERS: Dict[str, str] = {
    ".": "dot",
    "_": "underscore",
    "+": "plus",
    "@": "at",
}

# Digit names for reading digit by digit.
DIGITS: Tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)

# BCP-47 base languages that keep their text apart from Markdown/emoji clean-up.
NO_NUMBER_LANGUAGES: Tuple[str, ...] = ("ja", "zh", "yue", "ko")

# num2words languages that write decimals with a comma and group thousands with a period.
COMMA_DECIMAL_LANGUAGES: Tuple[str, ...] = (
    "az",
    "be",
    "ca",
    "cs",
    "da",
    "de",
    "eo",
    "es",
    "fi",
    "fr",
    "hu",
    "id",
    "is",
    "it",
    "kz",
    "lt",
    "lv",
    "nl",
    "no",
    "pl",
    "pt",
    "ro",
    "ru",
    "sk",
    "sl",
    "sr",
    "sv",
    "tet",
    "tg",
    "tr",
    "uk",
    "vi",
)
