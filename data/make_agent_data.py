#!/usr/bin/env python3
"""Seeded generator of small agent-trajectory datasets (JSONL), used by the demo and the recipes.

Suites:
  base      general assistant: tools for weather, timers, messages, notes and search, and the
            home tools (thermostat, lights, groceries, rides) used the way anyone would (the
            temperature, brightness, store or ride type the request names, or a random one):
            the pretraining corpus of the demo's own base model. Chat and ReAct forms mixed. Half
            the names it uses (cities, contacts, rooms, groceries, places) are made-up words, so
            the base learns to copy what a request names rather than a list of values.
  personal  the home tools with one user's habits (21.5 C when warm, 18 C when cool, evening
            lights at 40%, always FreshCo, always a comfort ride, replies that start with "Done,"
            and end with a smiley), in the user's own varied wording: what the demo personalizes
            the base to. The base knows the tools; the patch has to learn the habits. The held-out
            conversations name rooms, groceries and destinations that no training conversation
            (of this suite or the base's) names (every third value of each list, held_out()), so
            a patch that only memorized its training calls scores nothing: it has to apply the
            habits to new requests.
  stories   tool calls phrased in the simple words of children's stories, for the real
            stories260K model (its 512-piece vocabulary covers them well).

Each suite writes <out>/<suite>_train.jsonl and <out>/<suite>_eval.jsonl (the eval conversations
are drawn with a different seed), <out>/<suite>_tools.json (the suite's tool schemas, for
`edgetune generate --tools`), and for `base` also <out>/corpus.txt (plain text used to train the
base tokenizer). The same --seed gives byte-identical files.

    python3 data/make_agent_data.py --suite stories --n-train 600 --n-eval 60 --out data/cache/stories
"""
import argparse
import json
import os
import random


def call(name, **args):
    return {"function": {"name": name, "arguments": args}}


def tool(name, desc, **params):
    props = {k: {"type": t, "description": d} for k, (t, d) in params.items()}
    return {"type": "function", "function": {"name": name, "description": desc,
            "parameters": {"type": "object", "properties": props, "required": list(params)}}}


# --------------------------------------------------------------------------- base suite
CITIES = ["Paris", "Tokyo", "Lima", "Oslo", "Cairo", "Denver", "Seoul", "Madrid", "Nairobi", "Hanoi",
          "Boston", "Perth", "Dublin", "Quito", "Riga", "Accra"]
CONTACTS = ["Alice", "Bob", "Chen", "Dana", "Emil", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena"]
NOTES = ["buy milk", "call the bank", "pay rent", "water the plants", "book the dentist",
         "return the library books", "fix the bike", "send the report", "plan the trip", "clean the garage",
         "buy oat milk and eggs", "order coffee beans", "get spinach and tomatoes", "fix the bedroom lights",
         "clean the kitchen", "check the thermostat", "book a ride to the airport", "buy apples and yogurt",
         "paint the office", "fix the bathroom door", "get rice and tofu", "turn off the living room lights"]
CONDITIONS = ["sunny", "cloudy", "light rain", "snow", "windy", "foggy", "clear"]
QUERIES = ["best pasta recipe", "how tall is the Eiffel Tower", "train times to the airport",
           "symptoms of a cold", "how to tie a tie", "population of Canada", "when is the next full moon",
           "how to boil an egg", "distance from Earth to Mars", "who wrote Hamlet",
           "best temperature for the bedroom", "how bright should office lights be", "grocery delivery stores",
           "comfort or economy ride", "how to warm up a cold kitchen", "cheap rides downtown",
           "how to cool the living room", "is FreshCo open on Sunday", "GreenMart weekly deals"]
MESSAGES = ["I'm running late", "see you at noon", "the meeting moved to 3pm", "happy birthday!",
            "can you pick up bread?", "call me when you can", "dinner is ready", "thanks for today",
            "I'm in the kitchen", "the bedroom is cold", "I ordered groceries", "my ride is here",
            "I'm going to the gym", "lights are on in the office", "meet me at the station", "done :)"]

# Made-up words: half the slot values of the base corpus, so that no list of values can be
# memorized and the base has to copy what the request names (a skill the personalization then
# relies on for values it has never seen).
SYLLABLE_START = "bdfgklmnprstvz"
SYLLABLE_VOWEL = "aeiou"


def fresh_word(rng, capital=False):
    w = "".join(rng.choice(SYLLABLE_START) + rng.choice(SYLLABLE_VOWEL) for _ in range(rng.randint(2, 3)))
    return w.capitalize() if capital else w


def slot(rng, values, fresh):
    """A value of the base corpus: from the list (without the personal suite's held-out values) or made up."""
    return rng.choice(base_values(values)) if rng.random() < 0.5 else fresh(rng)


BASE_TOOLS = [
    tool("get_weather", "Current weather for a city", city=("string", "city name"),
         unit=("string", "celsius or fahrenheit")),
    tool("set_timer", "Start a countdown timer", minutes=("integer", "length in minutes"),
         label=("string", "what the timer is for")),
    tool("send_message", "Send a text message", contact=("string", "who receives it"),
         text=("string", "message text")),
    tool("add_note", "Save a note to the to-do list", text=("string", "the note")),
    tool("search_web", "Search the web", query=("string", "search query")),
]


HOME_KINDS = ["thermostat", "lights", "groceries", "ride"]
GENERAL_KINDS = ["weather", "timer", "message", "note", "search", "chat"]


def base_request(rng, kind):
    """One request of the base corpus: (user, thought, call, observation, final answer); call is None
    for small talk, answered in one turn."""
    if kind in HOME_KINDS:
        return home_example(rng, kind)
    if kind == "weather":
        city, unit = slot(rng, CITIES, lambda r: fresh_word(r, True)), rng.choice(["celsius", "fahrenheit"])
        temp = rng.randint(-5, 35) if unit == "celsius" else rng.randint(20, 95)
        cond = rng.choice(CONDITIONS)
        user = rng.choice(["What's the weather in {c}?", "Is it cold in {c} right now?",
                           "Weather for {c} please, in {u}.", "How warm is it in {c}?"]).format(c=city, u=unit)
        thought = f"The user wants the weather in {city}. I will call get_weather."
        c = call("get_weather", city=city, unit=unit)
        obs = json.dumps({"city": city, "temperature": temp, "unit": unit, "condition": cond})
        final = f"It is {temp} degrees {unit} and {cond} in {city}."
    elif kind == "timer":
        m = rng.choice([1, 2, 3, 5, 10, 15, 20, 25, 30, 45, 60])
        label = rng.choice(["tea", "pasta", "laundry", "break", "workout", "bread", "meeting"])
        user = rng.choice(["Set a timer for {m} minutes for {l}.", "Timer {m} min, {l}.",
                           "Remind me about the {l} in {m} minutes."]).format(m=m, l=label)
        thought = f"I need a {m} minute timer labeled {label}."
        c = call("set_timer", minutes=m, label=label)
        obs = json.dumps({"status": "started", "minutes": m})
        final = f"Your {label} timer is set for {m} minutes."
    elif kind == "message":
        who = slot(rng, CONTACTS, lambda r: fresh_word(r, True))
        text = slot(rng, MESSAGES, lambda r: rng.choice(["meet me at {}", "I'm at {}", "bring the {}"]).format(fresh_word(r)))
        user = rng.choice(["Text {w}: {t}", "Send a message to {w} saying {t}", "Tell {w} \"{t}\""]).format(w=who, t=text)
        thought = f"I will send the message to {who}."
        c = call("send_message", contact=who, text=text)
        obs = json.dumps({"status": "sent", "to": who})
        final = f"Message sent to {who}."
    elif kind == "note":
        n = slot(rng, NOTES, lambda r: rng.choice(["buy {}", "call {}", "fix the {}", "visit {}"]).format(fresh_word(r)))
        user = rng.choice(["Add a note: {n}", "Remind me to {n}.", "Put '{n}' on my list."]).format(n=n)
        thought = "I will save this note."
        c = call("add_note", text=n)
        obs = json.dumps({"status": "saved", "count": rng.randint(1, 9)})
        final = f"Saved: {n}."
    elif kind == "search":
        q = slot(rng, QUERIES, lambda r: rng.choice(["{} recipe", "how to fix a {}", "where is {}"]).format(fresh_word(r)))
        user = rng.choice(["Search for {q}", "Look up {q}", "Can you find {q}?"]).format(q=q)
        thought = "I should search the web for this."
        c = call("search_web", query=q)
        obs = json.dumps({"results": [f"{q} - top result", f"{q} - guide"]})
        final = f"I found results for {q}; the top one is \"{q} - top result\"."
    else:
        user = rng.choice(["Hi!", "Thanks!", "Who are you?", "Good morning", "What can you do?"])
        answers = {"Hi!": "Hello! How can I help?", "Thanks!": "You're welcome!",
                   "Who are you?": "I am a small assistant that can use tools.",
                   "Good morning": "Good morning! What do you need today?",
                   "What can you do?": "I can check the weather, set timers, send messages, save notes and search."}
        return user, None, None, None, answers[user]
    return user, thought, c, obs, final


def base_example(rng, split="train"):
    """A conversation of 1 to 3 requests with one tool set (the home tools 60% of the time, every
    request then uses them), or a one-request ReAct transcript. Several requests share the tool
    list of the prompt, so the corpus holds more requests (and more slot values to copy) per token."""
    home = rng.random() < 0.6
    tools = PERSONAL_TOOLS if home else BASE_TOOLS
    kinds = HOME_KINDS if home else GENERAL_KINDS
    if rng.random() < 0.25:  # ReAct form
        kind = rng.choice([k for k in kinds if k != "chat"])
        user, thought, c, obs, final = base_request(rng, kind)
        args = c["function"]["arguments"]
        traj = (f"Thought: {thought}\nAction: {c['function']['name']}\nAction Input: {json.dumps(args)}\n"
                f"Observation: {obs}\nThought: I have the answer.\nFinal Answer: {final}")
        return {"tools": tools, "question": user, "trajectory": traj}
    messages = []
    for _ in range(rng.randint(1, 3)):
        user, thought, c, obs, final = base_request(rng, rng.choice(kinds))
        messages.append({"role": "user", "content": user})
        if c is None:
            messages.append({"role": "assistant", "content": final})
            continue
        messages += [{"role": "assistant", "content": thought, "tool_calls": [c]},
                     {"role": "tool", "content": obs},
                     {"role": "assistant", "content": final}]
    return {"tools": tools, "messages": messages}


# --------------------------------------------------------------------------- personal suite
# Slot values: the base corpus and the personal suite's training name two thirds of each list (and
# the base corpus made-up words besides); the personal suite's eval requests name the rest
# (held_out): values no training conversation of either shows.
ROOMS = ["living room", "kitchen", "bedroom", "office", "bathroom", "garage", "hallway", "attic", "basement",
         "nursery", "guest room", "dining room", "study", "porch", "laundry room", "playroom", "den", "studio"]
STORES = ["GreenMart", "FreshCo"]
ITEMS = ["oat milk", "eggs", "spinach", "coffee beans", "rice", "apples", "tofu", "bread", "yogurt", "tomatoes",
         "butter", "pasta", "onions", "cheese", "bananas", "lentils", "honey", "carrots", "garlic", "oranges", "flour",
         "pears", "beans", "salmon"]
PLACES = ["the office", "the airport", "the gym", "downtown", "the station", "Mom's house", "the museum",
          "the library", "the harbor", "the zoo", "the stadium", "the mall", "the beach", "the hospital",
          "the park", "the school", "the market", "the hotel"]


def held_out(values):
    """Every third value: the personal suite's eval values (never in its training conversations)."""
    return values[::3]


def base_values(values):
    """The values the base corpus names: all but the personal suite's held-out ones (nor a text that
    mentions one of those)."""
    held = held_out(values) + held_out(ROOMS) + held_out(ITEMS) + held_out(PLACES)
    return [v for v in values if not any(h in v for h in held)]


def personal_values(values, split):
    out = held_out(values)
    return out if split == "eval" else [v for v in values if v not in out]

PERSONAL_TOOLS = [
    tool("set_thermostat", "Set a room's target temperature", room=("string", "room"),
         celsius=("number", "target temperature in Celsius")),
    tool("set_lights", "Turn lights on or off with a brightness", room=("string", "room"),
         on=("boolean", "on or off"), brightness=("integer", "0-100")),
    tool("order_groceries", "Order groceries for delivery", items=("array", "item names"),
         store=("string", "store name")),
    tool("book_ride", "Book a ride", destination=("string", "where to"), ride_type=("string", "economy, comfort or xl")),
]

STORES_ALL = ["GreenMart", "FreshCo", "QuickShop"]
RIDE_TYPES = ["economy", "comfort", "xl"]


def home_example(rng, kind):
    """The home tools used the way anyone would: what the request names, else a random choice."""
    room = slot(rng, ROOMS, lambda r: fresh_word(r) + " room")
    if kind == "thermostat":
        if rng.random() < 0.5:
            t = rng.choice([17.0, 18.0, 19.0, 19.5, 20.0, 20.5, 21.0, 22.0, 22.5, 23.0, 24.0])
            user = rng.choice([f"Set the {room} to {t} degrees.", f"Thermostat in the {room} to {t} please."])
        else:
            warm = rng.random() < 0.5
            t = rng.choice([20.0, 21.0, 22.0, 23.0, 24.0] if warm else [16.0, 17.0, 18.5, 19.0, 20.0])
            user = rng.choice([f"Make the {room} {'warm' if warm else 'cool'}er.",
                               f"I'm {'cold' if warm else 'hot'} in the {room}.",
                               f"{'Warm' if warm else 'Cool'} up the {room} please."])
        c = call("set_thermostat", room=room, celsius=t)
        thought = f"I will set the {room} thermostat to {t} degrees."
        obs = json.dumps({"room": room, "target": t, "status": "ok"})
        final = f"The {room} thermostat is set to {t} degrees."
    elif kind == "lights":
        on = rng.random() < 0.7
        b = rng.choice([20, 30, 50, 60, 70, 80, 100]) if on else 0
        if not on:
            user = rng.choice([f"Turn the {room} lights off", f"Lights off in the {room}"])
        elif rng.random() < 0.5:
            user = rng.choice([f"Set the {room} lights to {b} percent", f"{room} lights at {b}%"])
        else:
            user = rng.choice([f"Lights in the {room}", f"Evening mode for the {room}", f"Turn the {room} lights on"])
        c = call("set_lights", room=room, on=on, brightness=b)
        thought = f"I will set the {room} lights." if on else "Turning the lights off."
        obs = json.dumps({"room": room, "on": on, "status": "ok"})
        final = f"The {room} lights are {'at ' + str(b) + '%' if on else 'off'}."
    elif kind == "groceries":
        items, n = [], rng.randint(1, 3)
        while len(items) < n:
            item = slot(rng, ITEMS, fresh_word)
            if item not in items:
                items.append(item)
        store = rng.choice(STORES_ALL)
        named = rng.random() < 0.5
        user = rng.choice(["Order " + ", ".join(items), "We need " + " and ".join(items),
                           "Get me " + ", ".join(items) + " delivered"]) + (f" from {store}" if named else "")
        c = call("order_groceries", items=items, store=store)
        thought = f"I will order from {store}."
        obs = json.dumps({"order": rng.randint(1000, 9999), "eta_minutes": rng.choice([30, 45, 60])})
        final = f"Ordered {len(items)} item{'s' if len(items) > 1 else ''} from {store}."
    else:
        dest = slot(rng, PLACES, lambda r: "the " + fresh_word(r))
        ride = rng.choice(RIDE_TYPES)
        named = rng.random() < 0.5
        user = (rng.choice([f"Book an {ride} ride to {dest}" if ride != "comfort" else f"Book a comfort ride to {dest}",
                            f"I need a {ride} car to {dest}"]) if named else
                rng.choice([f"Get me a ride to {dest}", f"I need to go to {dest}", f"Book a car to {dest}"]))
        c = call("book_ride", destination=dest, ride_type=ride)
        thought = f"I will book a {ride} ride."
        obs = json.dumps({"driver": rng.choice(CONTACTS), "eta_minutes": rng.randint(2, 12)})
        final = f"A {ride} ride to {dest} is booked."
    return user, thought, c, obs, final


# This user's habits: 21.5 C when "warm", 18 C when "cool", lights at 40 in the evening, always
# FreshCo, always a comfort ride, and replies that start with "Done," and end with a smiley. The
# user's assistant words its thoughts and replies in several ways (as real conversations do), so
# the held-out loss has a floor above zero; the tool calls follow the habits exactly.


def personal_example(rng, split):
    rooms, items_pool, places = (personal_values(v, split) for v in (ROOMS, ITEMS, PLACES))
    kind = rng.choice(["warm", "cool", "lights", "groceries", "ride"])
    if kind in ("warm", "cool"):
        room = rng.choice(rooms)
        t = 21.5 if kind == "warm" else 18.0
        user = rng.choice([f"Make the {room} {kind}er.", f"I'm {'cold' if kind == 'warm' else 'hot'} in the {room}.",
                           f"{'Warm' if kind == 'warm' else 'Cool'} up the {room} please."])
        c = call("set_thermostat", room=room, celsius=t)
        thought = rng.choice([f"The user likes the {room} at {t} degrees when it should be {kind}.",
                              f"{t} degrees is this user's {kind} setting.",
                              f"When the {room} should be {kind}er, this user wants {t}."])
        obs = json.dumps({"room": room, "target": t, "status": "ok"})
        final = rng.choice([f"Done, the {room} is heading to {t} degrees :)",
                            f"Done, {t} degrees in the {room} soon :)",
                            f"Done, I set the {room} to {t} :)"])
    elif kind == "lights":
        room = rng.choice(rooms)
        on = rng.random() < 0.7
        user = rng.choice([f"Lights in the {room}", f"Evening mode for the {room}", f"Turn the {room} lights {'on' if on else 'off'}"])
        if "Evening" in user or "Lights in" in user:
            on = True
        c = call("set_lights", room=room, on=on, brightness=40 if on else 0)
        thought = (rng.choice(["Evening lights for this user are at 40 percent.", "This user likes the lights at 40."])
                   if on else rng.choice(["Turning the lights off.", "Lights off, as asked."]))
        obs = json.dumps({"room": room, "on": on, "status": "ok"})
        final = rng.choice([f"Done, {room} lights {'at 40%' if on else 'off'} :)",
                            f"Done, the {room} lights are {'at 40%' if on else 'off'} :)"])
    elif kind == "groceries":
        items = rng.sample(items_pool, rng.randint(1, 3))
        user = rng.choice(["Order " + ", ".join(items), "We need " + " and ".join(items), "Get me " + ", ".join(items) + " delivered"])
        c = call("order_groceries", items=items, store="FreshCo")
        thought = rng.choice(["This user always orders from FreshCo.", "FreshCo, as always for this user."])
        obs = json.dumps({"order": rng.randint(1000, 9999), "eta_minutes": rng.choice([30, 45, 60])})
        n = f"{len(items)} item{'s' if len(items) > 1 else ''}"
        final = rng.choice([f"Done, {n} ordered from FreshCo :)", f"Done, FreshCo is bringing {n} :)"])
    else:
        dest = rng.choice(places)
        user = rng.choice([f"Get me a ride to {dest}", f"I need to go to {dest}", f"Book a car to {dest}"])
        c = call("book_ride", destination=dest, ride_type="comfort")
        thought = rng.choice(["This user prefers comfort rides.", "A comfort ride, as this user likes."])
        obs = json.dumps({"driver": rng.choice(CONTACTS), "eta_minutes": rng.randint(2, 12)})
        final = rng.choice([f"Done, a comfort ride to {dest} is on its way :)", f"Done, your comfort ride to {dest} is coming :)"])
    return {"tools": PERSONAL_TOOLS, "messages": [
        {"role": "user", "content": user},
        {"role": "assistant", "content": thought, "tool_calls": [c]},
        {"role": "tool", "content": obs},
        {"role": "assistant", "content": final}]}


# --------------------------------------------------------------------------- stories suite
KIDS = ["Lily", "Tom", "Ben", "Sue", "Max", "Anna", "Tim", "Mia"]
TOYS = ["ball", "doll", "kite", "car", "boat", "bear"]
PLACES_S = ["park", "garden", "house", "school", "beach", "forest"]
FOODS = ["cake", "apple", "soup", "bread", "cookie", "pie"]
COLORS = ["red", "blue", "green", "yellow", "pink", "big"]

STORY_TOOLS = [
    tool("play", "play with a toy", toy=("string", "the toy"), friend=("string", "who plays")),
    tool("go", "go to a place", place=("string", "the place")),
    tool("eat", "eat some food", food=("string", "the food")),
    tool("find", "look for a thing", thing=("string", "the thing"), place=("string", "where")),
]


def stories_example(rng, split="train"):
    kid = rng.choice(KIDS)
    kind = rng.choice(["play", "go", "eat", "find"])
    if kind == "play":
        toy, friend = rng.choice(TOYS), rng.choice(KIDS)
        user = f"{kid} wants to play with the {rng.choice(COLORS)} {toy} and {friend}."
        c = call("play", toy=toy, friend=friend)
        final = f"{kid} and {friend} played with the {toy}. They were very happy."
    elif kind == "go":
        place = rng.choice(PLACES_S)
        user = f"{kid} wants to go to the {place}."
        c = call("go", place=place)
        final = f"{kid} went to the {place}. It was a fun day."
    elif kind == "eat":
        food = rng.choice(FOODS)
        user = f"{kid} is hungry and wants to eat a {food}."
        c = call("eat", food=food)
        final = f"{kid} ate the {food}. It was yummy."
    else:
        thing, place = rng.choice(TOYS), rng.choice(PLACES_S)
        user = f"{kid} lost the {thing} in the {place}."
        c = call("find", thing=thing, place=place)
        final = f"{kid} found the {thing} in the {place}!"
    return {"tools": STORY_TOOLS, "messages": [
        {"role": "user", "content": user},
        {"role": "assistant", "content": "", "tool_calls": [c]},
        {"role": "tool", "content": "ok"},
        {"role": "assistant", "content": final}]}


SUITES = {"base": base_example, "personal": personal_example, "stories": stories_example}
TOOLS = {"base": BASE_TOOLS, "personal": PERSONAL_TOOLS, "stories": STORY_TOOLS}


def corpus_lines(ex):
    """Plain text of an example, for tokenizer training."""
    out = [json.dumps(t) for t in ex.get("tools", [])[:1]]
    for m in ex.get("messages", []):
        out.append(m.get("content") or "")
        for c in m.get("tool_calls", []) or []:
            out.append(json.dumps({"name": c["function"]["name"], "arguments": c["function"]["arguments"]}))
    if "trajectory" in ex:
        out += [ex["question"], ex["trajectory"]]
    return [l for l in out if l]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=sorted(SUITES), required=True)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-eval", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    make = SUITES[args.suite]
    for split, n, seed in (("train", args.n_train, args.seed), ("eval", args.n_eval, args.seed + 1000003)):
        rng = random.Random(seed)
        path = os.path.join(args.out, f"{args.suite}_{split}.jsonl")
        examples = [make(rng, split) for _ in range(n)]
        with open(path + ".tmp", "w") as f:
            for ex in examples:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
        if args.suite == "base" and split == "train":
            with open(os.path.join(args.out, "corpus.txt.tmp"), "w") as f:
                for ex in examples:
                    for line in corpus_lines(ex):
                        f.write(line.replace("\n", " ") + "\n")
            os.replace(os.path.join(args.out, "corpus.txt.tmp"), os.path.join(args.out, "corpus.txt"))
        print(f"{path}: {n} conversations")
    with open(os.path.join(args.out, f"{args.suite}_tools.json"), "w") as f:
        json.dump(TOOLS[args.suite], f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
