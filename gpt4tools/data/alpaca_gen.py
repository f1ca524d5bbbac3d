"""Compose no-tool requests with correct answers (alpaca format) from small fact tables and arithmetic.

They complement the hand-written ``alpaca_handwritten.json``: every answer here is computed or looked up,
so it is right by construction. Used only for negative samples (requests that need no tool).
"""

from __future__ import annotations

import random

CAPITALS = {
    "France": "Paris", "Japan": "Tokyo", "Canada": "Ottawa", "Australia": "Canberra", "Brazil": "Brasilia",
    "Egypt": "Cairo", "Kenya": "Nairobi", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid",
    "Norway": "Oslo", "Sweden": "Stockholm", "Argentina": "Buenos Aires", "Mexico": "Mexico City",
    "India": "New Delhi", "Thailand": "Bangkok", "Portugal": "Lisbon", "Greece": "Athens", "Peru": "Lima",
    "Poland": "Warsaw", "Ireland": "Dublin", "Turkey": "Ankara", "Vietnam": "Hanoi", "Chile": "Santiago",
    "Finland": "Helsinki", "Austria": "Vienna", "Morocco": "Rabat", "New Zealand": "Wellington",
}
ANTONYMS = {
    "ancient": "modern", "generous": "stingy", "brave": "cowardly", "expand": "contract", "rigid": "flexible",
    "scarce": "plentiful", "arrive": "depart", "victory": "defeat", "transparent": "opaque", "shallow": "deep",
    "temporary": "permanent", "accept": "refuse", "fragile": "sturdy", "humble": "arrogant", "polite": "rude",
    "increase": "decrease", "visible": "invisible", "noisy": "quiet", "early": "late", "innocent": "guilty",
    "minimum": "maximum", "smooth": "rough", "loose": "tight", "optimistic": "pessimistic",
}
SYNONYMS = {
    "happy": "joyful", "big": "large", "fast": "quick", "smart": "intelligent", "begin": "start",
    "difficult": "hard", "tired": "exhausted", "angry": "furious", "beautiful": "lovely", "choose": "select",
    "help": "assist", "quiet": "silent", "rich": "wealthy", "funny": "amusing", "brave": "courageous",
    "cold": "chilly", "old": "elderly", "strange": "odd", "shout": "yell", "small": "tiny",
}
PAST = {
    "run": "ran", "swim": "swam", "write": "wrote", "eat": "ate", "go": "went", "buy": "bought",
    "teach": "taught", "think": "thought", "drive": "drove", "sing": "sang", "bring": "brought",
    "catch": "caught", "fly": "flew", "speak": "spoke", "take": "took", "build": "built", "find": "found",
    "sleep": "slept", "choose": "chose", "draw": "drew",
}
WORDS = ["garden", "planet", "window", "library", "rocket", "harbor", "blanket", "silver", "tomato", "journey",
         "pencil", "mountain", "bicycle", "whisper", "lantern", "orchard", "compass", "velvet", "thunder",
         "kitchen", "giraffe", "sunrise", "meadow", "crystal", "biscuit"]


def _arith(rng: random.Random) -> dict:
    a, b = rng.randint(12, 999), rng.randint(12, 999)
    op = rng.choice(["plus", "minus", "times"])
    val = {"plus": a + b, "minus": a - b, "times": a * b}[op]
    q = rng.choice([f"What is {a} {op} {b}?", f"Calculate {a} {op} {b}.", f"Compute {a} {op} {b} for me."])
    return {"instruction": q, "input": "", "output": f"{a} {op} {b} equals {val}."}


def _percent(rng: random.Random) -> dict:
    p, n = rng.choice([5, 10, 12, 15, 20, 25, 30, 40, 75]), rng.randrange(40, 2000, 20)
    val = p * n / 100
    val_s = f"{val:g}"
    return {"instruction": rng.choice([f"What is {p}% of {n}?", f"Find {p} percent of {n}."]), "input": "",
            "output": f"{p}% of {n} is {val_s}, because {n} x {p} / 100 = {val_s}."}


def _temperature(rng: random.Random) -> dict:
    c = rng.randint(-20, 45)
    f = c * 9 / 5 + 32
    return {"instruction": "Convert this temperature from Celsius to Fahrenheit.", "input": f"{c} degrees Celsius",
            "output": f"{c} degrees Celsius is {f:g} degrees Fahrenheit (F = C x 9/5 + 32)."}


def _distance(rng: random.Random) -> dict:
    km = rng.randint(2, 500)
    return {"instruction": f"How many miles are {km} kilometers?", "input": "",
            "output": f"{km} kilometers is about {km * 0.621371:.1f} miles (1 km is about 0.621 miles)."}


def _weight(rng: random.Random) -> dict:
    kg = rng.randint(1, 150)
    return {"instruction": "Convert the weight to pounds.", "input": f"{kg} kg",
            "output": f"{kg} kg is about {kg * 2.20462:.1f} pounds (1 kg is about 2.205 lb)."}


def _capital(rng: random.Random) -> dict:
    country = rng.choice(list(CAPITALS))
    q = rng.choice([f"What is the capital of {country}?", f"Name the capital city of {country}.",
                    f"Which city is the capital of {country}?"])
    return {"instruction": q, "input": "", "output": f"The capital of {country} is {CAPITALS[country]}."}


def _antonym(rng: random.Random) -> dict:
    w = rng.choice(list(ANTONYMS))
    return {"instruction": rng.choice(["Give the opposite of the given word.", "Provide an antonym for this word."]),
            "input": w, "output": f"An antonym of \"{w}\" is \"{ANTONYMS[w]}\"."}


def _synonym(rng: random.Random) -> dict:
    w = rng.choice(list(SYNONYMS))
    return {"instruction": rng.choice([f"Suggest a synonym for \"{w}\".", f"What is another word for \"{w}\"?"]),
            "input": "", "output": f"A synonym for \"{w}\" is \"{SYNONYMS[w]}\"."}


def _past(rng: random.Random) -> dict:
    v = rng.choice(list(PAST))
    return {"instruction": "What is the simple past tense of this verb?", "input": v,
            "output": f"The simple past tense of \"{v}\" is \"{PAST[v]}\"."}


def _reverse(rng: random.Random) -> dict:
    w = rng.choice(WORDS)
    return {"instruction": f"Spell the word \"{w}\" backwards.", "input": "",
            "output": f"\"{w}\" spelled backwards is \"{w[::-1]}\"."}


def _vowels(rng: random.Random) -> dict:
    w = rng.choice(WORDS)
    n = sum(ch in "aeiou" for ch in w)
    return {"instruction": "Count the vowels in the given word.", "input": w,
            "output": f"The word \"{w}\" has {n} vowel{'s' if n != 1 else ''}."}


def _sort_numbers(rng: random.Random) -> dict:
    nums = rng.sample(range(1, 200), k=rng.randint(4, 7))
    order = rng.choice(["ascending", "descending"])
    out = sorted(nums, reverse=order == "descending")
    return {"instruction": f"Sort these numbers in {order} order.", "input": ", ".join(map(str, nums)),
            "output": "Sorted: " + ", ".join(map(str, out)) + "."}


def _alphabetize(rng: random.Random) -> dict:
    words = rng.sample(WORDS, k=rng.randint(3, 6))
    return {"instruction": "Put the following words in alphabetical order.", "input": ", ".join(words),
            "output": ", ".join(sorted(words)) + "."}


def _prime(rng: random.Random) -> dict:
    n = rng.randint(10, 400)
    divisors = [d for d in range(2, int(n ** 0.5) + 1) if n % d == 0]
    ans = (f"Yes, {n} is a prime number: it has no divisors other than 1 and itself." if not divisors
           else f"No, {n} is not prime; it is divisible by {divisors[0]} ({n} = {divisors[0]} x {n // divisors[0]}).")
    return {"instruction": f"Is {n} a prime number?", "input": "", "output": ans}


def _average(rng: random.Random) -> dict:
    nums = [rng.randint(1, 100) for _ in range(rng.randint(3, 6))]
    mean = sum(nums) / len(nums)
    return {"instruction": "Calculate the average of these numbers.", "input": ", ".join(map(str, nums)),
            "output": f"The average is {mean:.2f} (sum {sum(nums)} divided by {len(nums)})."}


def _minutes(rng: random.Random) -> dict:
    m = rng.randint(70, 1000)
    return {"instruction": f"How many hours and minutes are {m} minutes?", "input": "",
            "output": f"{m} minutes is {m // 60} hours and {m % 60} minutes."}


FAMILIES = [_arith, _percent, _temperature, _distance, _weight, _capital, _antonym, _synonym, _past, _reverse,
            _vowels, _sort_numbers, _alphabetize, _prime, _average, _minutes]


def compose_alpaca(n: int = 240, seed: int = 11) -> list[dict]:
    """``n`` distinct computed requests (by instruction + input), round-robin over the families."""
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    out: list[dict] = []
    i = 0
    while len(out) < n:
        item = FAMILIES[i % len(FAMILIES)](rng)
        i += 1
        key = (item["instruction"], item["input"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
