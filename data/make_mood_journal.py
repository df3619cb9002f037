#!/usr/bin/env python3
"""Seeded generator of the Mood Journal task (JSONL conversations): short journal entries typed the
way people type on a phone, each answered by one tool call log_mood{mood, energy, context}.

Suites:
  base      the general task: standard words for moods ("anxious", "worn out"), energy said plainly
            or as "energy 3/10", and places and people in their everyday meaning (the office is
            work, mom is family, the lab is study, a first name is a friend). What a base model
            knows before it is personalized.
  personal  one user's own habits (Sam): their words for moods ("buzzing" is anxious for Sam, not
            excited; "fried" is tired, "meh" is sad, "sparkly" is happy, ...), energy as a phone
            battery ("battery 20%": under 35 is low, 70 and up is high), and what their places and
            people mean ("the lab" is work, "Jules" is family, "the 42" is the commute, "Pixel" the
            cat is home, ...). About one entry in six uses a standard word instead, as Sam sometimes
            does. The patch has to learn these; the base reads many of them another way.

Held out: the eval split of a suite never repeats a training entry's slot values. Its label
triples (mood, energy, context) are a seeded fifth of all 270 that no training entry has, and the
free-text details of its entries (what happened, when) come from a pool the training entries never
use. The personal words and places are the habit being learned, so both splits use them.
Approval: the model's log_mood call equals the entry's label exactly (name and all three
arguments), which is `edgetune eval`'s tool_call_exact_match on these files.

Writes <out>/mood_<suite>_train.jsonl, <out>/mood_<suite>_eval.jsonl and <out>/mood_tools.json; the
same --seed gives byte-identical files.

    python3 data/make_mood_journal.py --suite personal --n-train 400 --n-eval 80 --seed 3 --out data/cache/mood
"""
import argparse
import json
import os
import random

MOODS = ["happy", "calm", "content", "excited", "sad", "anxious", "stressed", "angry", "tired", "lonely"]
ENERGY = ["low", "medium", "high"]
CONTEXTS = ["work", "study", "family", "friends", "health", "home", "outdoors", "commute", "rest"]

MOOD_TOOLS = [{"type": "function", "function": {
    "name": "log_mood", "description": "Log the mood of a journal entry",
    "parameters": {"type": "object", "properties": {
        "mood": {"type": "string", "enum": MOODS, "description": "how the writer feels"},
        "energy": {"type": "string", "enum": ENERGY, "description": "the writer's energy"},
        "context": {"type": "string", "enum": CONTEXTS, "description": "what the entry is about"}},
        "required": ["mood", "energy", "context"]}}}]

# ----------------------------------------------------------------------------- everyday wording
BASE_MOOD_WORDS = {
    "happy": ["happy", "glad", "in a great mood", "cheerful", "really good"],
    "calm": ["calm", "relaxed", "peaceful", "at ease"],
    "content": ["content", "satisfied", "pretty okay", "cozy"],
    "excited": ["excited", "pumped", "buzzing", "thrilled", "so hyped"],
    "sad": ["sad", "down", "blue", "a bit teary"],
    "anxious": ["anxious", "nervous", "on edge", "worried"],
    "stressed": ["stressed", "overwhelmed", "fried", "under pressure"],
    "angry": ["angry", "mad", "annoyed", "furious"],
    "tired": ["tired", "worn out", "sleepy", "meh"],
    "lonely": ["lonely", "alone", "left out", "isolated"],
}
BASE_ENERGY_WORDS = {
    "low": ["no energy", "drained", "exhausted", "running on empty", "sluggish"],
    "medium": ["so-so energy", "normal energy", "energy is fine", "medium energy"],
    "high": ["full of energy", "energetic", "lots of energy", "could run a marathon"],
}
BASE_PLACES = {
    "work": ["at the office", "at work", "in a long meeting", "with my boss", "on a deadline"],
    "study": ["at the library", "in class", "at the lab", "studying for exams", "on my thesis"],
    "family": ["with my mom", "with my dad", "with my sister", "with my parents", "at family dinner"],
    "friends": ["with friends", "with my best friend", "in the group chat", "with Alex", "with Nora"],
    "health": ["at the gym", "at the doctor", "after a run", "with my therapist", "at the dentist"],
    "home": ["at home", "cleaning the apartment", "on the couch", "doing laundry", "with my roommate"],
    "outdoors": ["at the park", "on a hike", "at the beach", "in the garden", "by the lake"],
    "commute": ["on the bus", "stuck in traffic", "on the train", "on the subway", "waiting for the tram"],
    "rest": ["in bed", "on vacation", "napping", "on a lazy sunday", "at the spa"],
}

# ----------------------------------------------------------------------------- Sam's own words
SAM_MOOD_WORDS = {
    "happy": ["sparkly", "glowy"],
    "calm": ["floaty", "smooth"],
    "content": ["cozy", "snug"],
    "excited": ["fizzy", "zoomy"],
    "sad": ["meh", "grey"],
    "anxious": ["buzzing", "jittery"],
    "stressed": ["spiky", "crunchy"],
    "angry": ["stormy", "steamy"],
    "tired": ["fried", "noodly"],
    "lonely": ["hollow", "echoey"],
}
SAM_PLACES = {
    "work": ["at the lab", "with Priya", "at the lab again"],
    "study": ["at the Annex", "with Prof. Lind", "at the Annex after hours"],
    "family": ["with Jules", "with Grandma Rosa", "at Rosa's"],
    "friends": ["with Kai", "with the Sunday crew", "at Kai's"],
    "health": ["at the pool", "with Dr. Okafor", "after the pool"],
    "home": ["with Pixel", "on the balcony", "feeding Pixel"],
    "outdoors": ["up the ridge", "at the allotment", "on the ridge trail"],
    "commute": ["on the 42", "on the ferry", "waiting for the 42"],
    "rest": ["at the cabin", "in the hammock", "at the cabin all day"],
}


def sam_energy(rng, level):
    """Sam gives energy as a phone battery: under 35% is low, 35-69% medium, 70% and up high."""
    lo, hi = {"low": (3, 34), "medium": (35, 69), "high": (70, 100)}[level]
    pct = rng.randint(lo, hi)
    return rng.choice([f"battery {pct}%", f"battery at {pct}", f"{pct}% battery", f"at {pct}% today"])


def base_energy(rng, level):
    if rng.random() < 0.35:
        lo, hi = {"low": (1, 3), "medium": (4, 6), "high": (7, 10)}[level]
        return f"energy {rng.randint(lo, hi)}/10"
    return rng.choice(BASE_ENERGY_WORDS[level])


# What happened and when: free text around the labelled parts. Train and eval draw from disjoint
# halves (split by a seeded shuffle), so no held-out entry repeats a training entry's details.
DETAILS = ["spilled coffee on my shirt", "the wifi died twice", "got a parcel i forgot i ordered",
           "burnt the toast", "found a five in my coat", "the printer jammed again", "saw a fox",
           "missed a call from the bank", "my headphones broke", "tried a new recipe", "it rained all day",
           "the heating is off", "finished a book", "lost my keys for an hour", "someone sang on the street",
           "made pancakes", "forgot my lunch", "the neighbours are drilling", "fixed the wobbly chair",
           "got a nice message", "watched the sunrise", "my phone is cracked", "ate way too much cake",
           "the elevator was out", "booked a trip", "a bird got in the kitchen", "paid the bills",
           "the fridge is making noises", "got a haircut", "my plant has a new leaf", "stayed up too late",
           "the power went out", "ran into an old teacher", "the soup was cold", "got paid",
           "my socks got soaked", "won a board game", "the bakery was closed", "cleaned out my inbox",
           "someone took my seat", "had a long shower", "heard from an old friend", "the cat knocked over a glass",
           "tried yoga", "the coffee machine broke", "got a compliment", "dropped my phone", "saw a rainbow"]
WHEN = ["this morning", "tonight", "today", "this afternoon", "last night", "at lunch", "just now",
        "all evening", "before breakfast", "around noon", "after dinner", "on my break"]
TYPED = {"really": ["really", "rly", "sooo", "super"], "though": ["though", "tho"], "because": ["because", "bc", "cuz"],
         "im": ["i'm", "im", "I'm"], "kind of": ["kind of", "kinda", "sort of", "a bit"]}


def typed(rng, key):
    return rng.choice(TYPED[key])


def entry_text(rng, mood_phrase, energy_phrase, place, detail, when):
    """One journal entry in typed-text style; the parts in varied order and wording."""
    im, kinda, really = typed(rng, "im"), typed(rng, "kind of"), typed(rng, "really")
    forms = [
        f"{when} {place}. {detail}. {im} {kinda} {mood_phrase}, {energy_phrase}",
        f"{detail} {when}... {place} and feeling {mood_phrase}. {energy_phrase}",
        f"ugh {place} {when}. {mood_phrase} {typed(rng, 'though')}. {energy_phrase}",
        f"{mood_phrase} {when}, {place}. {detail} lol. {energy_phrase}",
        f"{energy_phrase}. {place} {when} and {im} {really} {mood_phrase} {typed(rng, 'because')} {detail}",
        f"quick note: {place}, {detail}. mood: {mood_phrase}. {energy_phrase}",
        f"{im} {mood_phrase}. {place} {when}. {energy_phrase}. {detail}",
    ]
    text = rng.choice(forms)
    if rng.random() < 0.5:
        text = text.lower()
    if rng.random() < 0.3:
        text = text.replace(". ", " ", 1)
    return text.strip()


def label_split(seed):
    """All (mood, energy, context) triples, a seeded fifth held out for eval."""
    triples = [(m, e, c) for m in MOODS for e in ENERGY for c in CONTEXTS]
    rng = random.Random(seed)
    rng.shuffle(triples)
    k = len(triples) // 5
    return triples[k:], triples[:k]


def detail_split(seed):
    rng = random.Random(seed + 17)
    d = DETAILS[:]
    rng.shuffle(d)
    return d[len(d) // 2:], d[:len(d) // 2]


def example(rng, suite, triple, details):
    mood, energy, context = triple
    if suite == "personal" and rng.random() >= 1 / 6:
        mood_phrase = rng.choice(SAM_MOOD_WORDS[mood])
        place = rng.choice(SAM_PLACES[context])
        energy_phrase = sam_energy(rng, energy)
    elif suite == "personal":
        # Sam's standard words mean what they mean to anyone, except where Sam's own use differs.
        words = [w for w in BASE_MOOD_WORDS[mood] if w not in {w for ws in SAM_MOOD_WORDS.values() for w in ws}]
        mood_phrase = rng.choice(words)
        place = rng.choice(SAM_PLACES[context])
        energy_phrase = sam_energy(rng, energy)
    else:
        mood_phrase = rng.choice(BASE_MOOD_WORDS[mood])
        place = rng.choice(BASE_PLACES[context])
        energy_phrase = base_energy(rng, energy)
    text = entry_text(rng, mood_phrase, energy_phrase, place, rng.choice(details), rng.choice(WHEN))
    c = {"function": {"name": "log_mood", "arguments": {"mood": mood, "energy": energy, "context": context}}}
    reply = rng.choice([f"Logged: {mood}, {energy} energy, {context}.", f"Saved as {mood} ({energy} energy, {context})."])
    return {"tools": MOOD_TOOLS, "messages": [
        {"role": "user", "content": text},
        {"role": "assistant", "content": "", "tool_calls": [c]},
        {"role": "tool", "content": json.dumps({"status": "logged"})},
        {"role": "assistant", "content": reply}]}


def generate(suite, n, triples, details, seed):
    rng = random.Random(seed)
    return [example(rng, suite, rng.choice(triples), details) for _ in range(n)]


def check_disjoint(train, held):
    """The held-out split shares no label triple and no detail with the training split."""
    def triple(ex):
        a = ex["messages"][1]["tool_calls"][0]["function"]["arguments"]
        return (a["mood"], a["energy"], a["context"])
    seen = {triple(ex) for ex in train}
    clash = [triple(ex) for ex in held if triple(ex) in seen]
    assert not clash, f"held-out label triples also in training: {clash[:3]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=["base", "personal"], required=True)
    ap.add_argument("--n-train", type=int, default=400)
    ap.add_argument("--n-eval", type=int, default=80)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    train_triples, eval_triples = label_split(args.seed)
    train_details, eval_details = detail_split(args.seed)
    splits = {"train": generate(args.suite, args.n_train, train_triples, train_details, args.seed),
              "eval": generate(args.suite, args.n_eval, eval_triples, eval_details, args.seed + 1000003)}
    check_disjoint(splits["train"], splits["eval"])
    for split, examples in splits.items():
        path = os.path.join(args.out, f"mood_{args.suite}_{split}.jsonl")
        with open(path + ".tmp", "w") as f:
            for ex in examples:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
        print(f"{path}: {len(examples)} entries")
    with open(os.path.join(args.out, "mood_tools.json.tmp"), "w") as f:
        json.dump(MOOD_TOOLS, f, indent=1)
        f.write("\n")
    os.replace(os.path.join(args.out, "mood_tools.json.tmp"), os.path.join(args.out, "mood_tools.json"))


if __name__ == "__main__":
    main()
