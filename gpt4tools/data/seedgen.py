"""Compose the seed captions shipped in ``gpt4tools/assets/seeds/`` (scene text + objects with boxes).

The captions are in the teacher's input form, the way COCO-based GPT4Tools captions read: one or two
sentences describing the scene, then every object paired with its box ``[x1, y1, x2, y2]`` on a
640x480 canvas. Scenes are composed from hand-written settings, subjects, activities and props with a
fixed seed, deduplicated, and split into train/val/test.

Regenerate the committed files with ``python -m gpt4tools.data.seedgen`` (deterministic).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

SEED_DIR = Path(__file__).resolve().parents[1] / "assets" / "seeds"

W, H = 640, 480

COLORS = ["red", "blue", "green", "yellow", "white", "black", "brown", "gray", "orange", "pink", "purple",
          "silver", "dark blue", "light green", "beige", "striped", "wooden", "plastic", "metal", "small", "large",
          "old", "shiny", "tall"]


@dataclass(frozen=True)
class Setting:
    """One kind of place with who can be there, what they do, and what stands around."""

    place: tuple[str, ...]
    subjects: tuple[str, ...]
    activities: tuple[str, ...]
    props: tuple[str, ...]
    extras: tuple[str, ...] = ()


SETTINGS: list[Setting] = [
    Setting(("in a sunny kitchen", "in a cramped apartment kitchen", "in a restaurant kitchen"),
            ("woman", "man", "chef", "young boy", "grandmother"),
            ("chopping vegetables on a cutting board", "stirring a pot on the stove", "washing dishes at the sink",
             "pouring coffee into a mug", "rolling out dough"),
            ("refrigerator", "stove", "kettle", "cutting board", "bowl of apples", "coffee mug", "sink", "knife",
             "frying pan", "toaster", "window"),
            ("Steam rises from the pot.", "Sunlight comes through the window.", "Spices line the shelf.")),
    Setting(("on a city street", "at a busy crosswalk", "on a rainy downtown sidewalk"),
            ("woman", "man", "cyclist", "police officer", "teenager"),
            ("waiting to cross the road", "walking a dog", "riding a bicycle", "carrying shopping bags",
             "holding an umbrella"),
            ("car", "bus", "traffic light", "stop sign", "fire hydrant", "bicycle", "dog", "umbrella", "bench",
             "street lamp", "taxi"),
            ("The pavement is wet.", "Tall buildings line the street.", "A shop sign glows in the background.")),
    Setting(("on a sandy beach", "at the seaside", "on a crowded beach"),
            ("girl", "boy", "surfer", "family", "man"),
            ("building a sandcastle", "carrying a surfboard toward the waves", "flying a kite",
             "lying on a towel", "throwing a frisbee"),
            ("surfboard", "beach umbrella", "kite", "towel", "sandcastle", "bucket", "seagull", "cooler",
             "frisbee", "boat"),
            ("Waves roll onto the shore.", "The sky is clear.", "Clouds gather over the sea.")),
    Setting(("in a grassy park", "in a city park", "in a park in autumn"),
            ("child", "old man", "jogger", "woman", "couple"),
            ("feeding pigeons", "jogging along the path", "sitting on a bench", "playing with a dog",
             "having a picnic"),
            ("bench", "tree", "dog", "pigeon", "picnic basket", "bicycle", "ball", "trash can", "kite",
             "lamp post", "blanket"),
            ("Leaves cover the ground.", "A fountain is visible in the distance.", "The grass is freshly cut.")),
    Setting(("in a living room", "in a cozy living room", "in a bright apartment living room"),
            ("cat", "man", "woman", "little girl", "teenager"),
            ("sitting on the couch", "watching television", "reading a book", "playing a video game",
             "sleeping on a cushion"),
            ("couch", "television", "remote control", "lamp", "bookshelf", "potted plant", "coffee table", "cat",
             "rug", "clock", "laptop"),
            ("A painting hangs on the wall.", "The curtains are half open.", "Toys are scattered on the floor.")),
    Setting(("on a farm", "in a green pasture", "in a fenced field"),
            ("farmer", "horse", "cow", "boy", "woman"),
            ("grazing in the field", "leading a horse", "driving a tractor", "feeding the sheep",
             "standing by the fence"),
            ("horse", "cow", "sheep", "tractor", "fence", "barn", "hay bale", "dog", "tree", "bucket"),
            ("Hills roll in the background.", "The barn roof is rusty.", "The sky is overcast.")),
    Setting(("at a train station", "on a railway platform", "at a small rural station"),
            ("commuter", "woman", "man", "conductor", "group of tourists"),
            ("waiting for the train", "checking a phone", "pulling a suitcase", "reading a newspaper",
             "boarding the train"),
            ("train", "suitcase", "bench", "clock", "backpack", "sign", "trash can", "newspaper", "umbrella",
             "handbag"),
            ("The train doors are open.", "The platform is crowded.", "Rails stretch into the distance.")),
    Setting(("in an office", "in an open-plan office", "at a home office desk"),
            ("man", "woman", "programmer", "manager", "student"),
            ("typing on a laptop", "talking on the phone", "reading documents", "drinking coffee",
             "writing on a whiteboard"),
            ("laptop", "keyboard", "mouse", "monitor", "office chair", "coffee mug", "potted plant", "desk lamp",
             "notebook", "phone", "whiteboard"),
            ("Sticky notes cover the monitor.", "Blinds filter the light.", "Cables run under the desk.")),
    Setting(("on a snowy mountain slope", "at a ski resort", "on a snowy hill"),
            ("skier", "snowboarder", "child", "man", "woman"),
            ("skiing down the slope", "riding a snowboard", "building a snowman", "riding a sled",
             "standing next to a ski lift"),
            ("skis", "snowboard", "ski poles", "sled", "snowman", "ski lift", "pine tree", "backpack", "helmet"),
            ("Snow covers everything.", "The sky is bright blue.", "Fog hides the peaks.")),
    Setting(("at a tennis court", "on a clay tennis court", "at an outdoor tennis court"),
            ("tennis player", "woman", "man", "young girl", "coach"),
            ("swinging a racket", "serving the ball", "waiting for a return", "picking up balls",
             "resting by the net"),
            ("tennis racket", "tennis ball", "net", "bench", "water bottle", "towel", "fence", "bag", "cap"),
            ("The lines are freshly painted.", "Spectators sit in the stands.", "Shadows stretch across the court.")),
    Setting(("at a baseball field", "in a baseball stadium", "on a little league field"),
            ("batter", "pitcher", "catcher", "umpire", "boy"),
            ("swinging a bat", "throwing a pitch", "crouching behind home plate", "running to first base",
             "catching a fly ball"),
            ("baseball bat", "baseball glove", "baseball", "helmet", "home plate", "fence", "bench", "scoreboard"),
            ("The crowd is cheering.", "The grass is bright green.", "Flood lights are on.")),
    Setting(("in a bathroom", "in a tiled bathroom", "in a hotel bathroom"),
            ("cat", "toddler", "man", "woman", "dog"),
            ("sitting in the sink", "brushing teeth", "looking in the mirror", "taking a bath",
             "standing by the shower"),
            ("sink", "toilet", "mirror", "bathtub", "towel", "toothbrush", "soap", "shower curtain", "cat", "rug"),
            ("The tiles are white.", "A plant sits on the windowsill.", "The mirror is fogged up.")),
    Setting(("in a bedroom", "in a child's bedroom", "in a hotel room"),
            ("dog", "cat", "girl", "woman", "man"),
            ("lying on the bed", "folding clothes", "reading before sleep", "jumping on the bed",
             "packing a suitcase"),
            ("bed", "pillow", "lamp", "teddy bear", "suitcase", "alarm clock", "wardrobe", "book", "window",
             "chair"),
            ("The sheets are rumpled.", "Posters cover one wall.", "Morning light fills the room.")),
    Setting(("at a harbor", "on a wooden pier", "at a fishing port"),
            ("fisherman", "man", "woman", "sailor", "child"),
            ("fishing from the pier", "tying up a boat", "watching the boats", "feeding seagulls",
             "repairing a net"),
            ("boat", "fishing rod", "seagull", "rope", "bucket", "buoy", "lighthouse", "sailboat", "crate"),
            ("The water is calm.", "Gulls circle overhead.", "A storm is coming in.")),
    Setting(("at an airport", "on an airport runway", "at an airport gate"),
            ("pilot", "traveler", "family", "ground worker", "woman"),
            ("waving at a plane", "pushing a luggage cart", "boarding a plane", "checking a ticket",
             "guiding a plane with batons"),
            ("airplane", "suitcase", "luggage cart", "truck", "traffic cone", "window", "backpack", "sign"),
            ("Jet engines roar.", "The tarmac shimmers in the heat.", "Clouds hang low.")),
    Setting(("in a zoo", "at a wildlife park", "on a savanna"),
            ("giraffe", "elephant", "zebra", "zookeeper", "family"),
            ("eating leaves from a tree", "drinking at a pond", "walking along the fence", "feeding the animals",
             "standing in the shade"),
            ("giraffe", "elephant", "zebra", "tree", "fence", "rock", "pond", "bird", "bucket"),
            ("Dust rises from the ground.", "The grass is dry.", "Visitors watch from a railing.")),
    Setting(("in a classroom", "in a school library", "in a lecture hall"),
            ("teacher", "student", "boy", "girl", "professor"),
            ("writing on the blackboard", "raising a hand", "reading a textbook", "taking notes",
             "using a computer"),
            ("blackboard", "desk", "chair", "book", "backpack", "globe", "computer", "clock", "pencil case"),
            ("Maps hang on the wall.", "The windows are open.", "Papers are piled on the desk.")),
    Setting(("at a pizzeria", "at a dinner table", "in a cafe"),
            ("family", "woman", "man", "waiter", "group of friends"),
            ("eating pizza", "drinking coffee", "cutting a cake", "ordering food", "toasting with glasses"),
            ("pizza", "plate", "wine glass", "fork", "knife", "cup", "cake", "bottle", "napkin", "vase of flowers"),
            ("Candles light the table.", "The cafe is busy.", "A chalkboard menu hangs behind them.")),
    Setting(("at a skate park", "in an empty parking lot", "on a concrete ramp"),
            ("skateboarder", "teenager", "boy", "young woman", "BMX rider"),
            ("doing a kickflip", "riding down a ramp", "balancing on a rail", "sitting on the ramp edge",
             "riding a bike over a jump"),
            ("skateboard", "ramp", "helmet", "bicycle", "graffiti wall", "bench", "water bottle", "cap"),
            ("Graffiti covers the walls.", "The sun is setting.", "Friends watch from the side.")),
    Setting(("in a garden", "in a backyard", "in a vegetable garden"),
            ("gardener", "old woman", "boy", "man", "dog"),
            ("watering the flowers", "digging with a shovel", "picking tomatoes", "mowing the lawn",
             "chasing a butterfly"),
            ("watering can", "shovel", "flower pot", "wheelbarrow", "lawn mower", "fence", "tomato plant", "bird",
             "garden hose"),
            ("Roses bloom along the fence.", "The soil is freshly turned.", "A shed stands in the corner.")),
    Setting(("on a highway", "on a country road", "at a gas station"),
            ("truck driver", "motorcyclist", "man", "woman", "mechanic"),
            ("filling up the car", "riding a motorcycle", "changing a tire", "driving a truck",
             "checking the engine"),
            ("truck", "car", "motorcycle", "gas pump", "traffic cone", "road sign", "tire", "helmet"),
            ("The road is empty.", "Heat rises from the asphalt.", "Trees line the road.")),
    Setting(("in a museum", "in an art gallery", "at a history exhibition"),
            ("visitor", "guide", "student", "woman", "old man"),
            ("looking at a painting", "taking a photo", "reading a placard", "sketching a statue",
             "listening to the guide"),
            ("painting", "statue", "bench", "frame", "camera", "sign", "vase", "glass case"),
            ("The walls are white.", "Spotlights shine on the art.", "The hall is quiet.")),
    Setting(("at a market", "at a farmers market", "in a grocery store"),
            ("vendor", "shopper", "woman", "man", "child"),
            ("choosing fruit", "paying at the counter", "arranging vegetables", "pushing a cart",
             "carrying a basket"),
            ("banana", "orange", "apple", "basket", "shopping cart", "scale", "crate", "broccoli", "carrot",
             "bag"),
            ("Colorful stalls line the aisle.", "Price tags hang above the fruit.", "The market is crowded.")),
    Setting(("in a forest", "on a hiking trail", "by a mountain lake"),
            ("hiker", "camper", "deer", "bear", "woman"),
            ("walking along the trail", "setting up a tent", "drinking from a stream", "taking a photo",
             "resting on a rock"),
            ("tent", "backpack", "tree", "rock", "campfire", "deer", "canoe", "map", "bear"),
            ("Mist hangs between the trees.", "The lake reflects the sky.", "Pine needles cover the path.")),
    Setting(("at a concert", "on a small stage", "in a music studio"),
            ("guitarist", "singer", "drummer", "pianist", "violinist"),
            ("playing a guitar", "singing into a microphone", "playing the drums", "playing the piano",
             "tuning a violin"),
            ("guitar", "microphone", "drum kit", "piano", "speaker", "violin", "music stand", "lamp"),
            ("Stage lights flash.", "The audience is dancing.", "Cables cover the floor.")),
    Setting(("at a soccer field", "on a football pitch", "at a school playground"),
            ("soccer player", "goalkeeper", "boy", "girl", "referee"),
            ("kicking a ball", "diving for a save", "running across the field", "blowing a whistle",
             "celebrating a goal"),
            ("soccer ball", "goal", "net", "cone", "water bottle", "bench", "flag", "whistle"),
            ("The grass is muddy.", "Parents cheer from the sideline.", "The floodlights are on.")),
    Setting(("in a workshop", "in a garage", "in a carpentry shop"),
            ("carpenter", "mechanic", "man", "woman", "apprentice"),
            ("sawing a plank", "repairing a bicycle", "hammering a nail", "painting a chair",
             "measuring a board"),
            ("saw", "hammer", "workbench", "bicycle", "toolbox", "ladder", "paint can", "chair", "drill"),
            ("Sawdust covers the floor.", "Tools hang on the wall.", "A radio plays in the corner.")),
    Setting(("by a river", "on a bridge over a river", "at a canal"),
            ("rower", "fisherman", "couple", "boy", "woman"),
            ("rowing a canoe", "fishing with a rod", "walking across the bridge", "skipping stones",
             "feeding ducks"),
            ("canoe", "bridge", "duck", "fishing rod", "bench", "tree", "boat", "lamp post", "swan"),
            ("The current is strong.", "Willows hang over the water.", "Evening light colors the water.")),
    Setting(("in a hospital room", "at a doctor's office", "at a pharmacy"),
            ("doctor", "nurse", "patient", "pharmacist", "child"),
            ("checking a chart", "measuring blood pressure", "lying in bed", "handing over medicine",
             "talking to a patient"),
            ("bed", "monitor", "chair", "stethoscope", "clipboard", "window", "curtain", "medicine bottle"),
            ("The room is bright.", "Machines beep softly.", "Flowers stand by the window.")),
    Setting(("at a birthday party", "at a wedding reception", "at a backyard barbecue"),
            ("child", "bride", "groom", "man", "group of friends"),
            ("blowing out candles", "cutting the cake", "grilling sausages", "dancing", "opening presents"),
            ("cake", "balloon", "gift box", "grill", "table", "chair", "wine glass", "candle", "sausage"),
            ("Balloons float above the table.", "Music plays loudly.", "Lights are strung overhead.")),
]

STYLE_SUBJECT_PREFIX = {"family": "a", "group of friends": "a", "group of tourists": "a", "couple": "a"}


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _random_box(rng: random.Random, big: bool) -> list[int]:
    w = rng.randint(180, 420) if big else rng.randint(30, 220)
    h = rng.randint(200, 440) if big else rng.randint(30, 200)
    x1 = rng.randint(0, W - w)
    y1 = rng.randint(0, H - h)
    return [x1, y1, x1 + w, y1 + h]


def compose_scene(rng: random.Random) -> dict:
    """One scene: caption text with objects and boxes, and its parts."""
    setting = rng.choice(SETTINGS)
    subject = rng.choice(setting.subjects)
    activity = rng.choice(setting.activities)
    place = rng.choice(setting.place)
    subj_attr = rng.choice(["", "", "young ", "smiling ", "tall ", "tired ", "happy "])
    if subject in ("horse", "cow", "cat", "dog", "giraffe", "elephant", "zebra", "deer", "bear"):
        subj_attr = rng.choice(["", "brown ", "black ", "white ", "spotted ", "large "])
    if subject.startswith(("group", "family", "couple")):
        subj_attr = ""
    lead = f"{subj_attr}{subject}"
    props = rng.sample([p for p in setting.props if p != subject], k=min(len(setting.props) - 1, rng.randint(2, 4)))
    colored = []
    for p in props:
        if rng.random() < 0.55 and not p.startswith(("bowl", "vase", "group")):
            colored.append(f"{rng.choice(COLORS)} {p}")
        else:
            colored.append(p)
    text = f"{_article(lead).capitalize()} {lead} {activity} {place}"
    near = rng.choice(["next to", "near", "beside", "in front of", "behind"])
    text += f", {near} {_article(colored[0])} {colored[0]}."
    if rng.random() < 0.7 and setting.extras:
        text += " " + rng.choice(setting.extras)
    if len(colored) > 1 and rng.random() < 0.6:
        text += f" {_article(colored[1]).capitalize()} {colored[1]} can be seen {rng.choice(['on the left', 'on the right', 'in the background', 'in the foreground', 'in the corner'])}."
    objects = [{"name": subject, "box": _random_box(rng, True)}]
    objects += [{"name": c, "box": _random_box(rng, False)} for c in colored]
    caption = text + " " + ", ".join(f"{o['name']} {o['box']}" for o in objects)
    return {"caption": caption, "setting": place, "subject": subject}


def compose_scenes(n: int = 640, seed: int = 20230526) -> list[dict]:
    """``n`` distinct scenes (by caption text), deterministic for ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    scenes: list[dict] = []
    while len(scenes) < n:
        scene = compose_scene(rng)
        key = scene["caption"].split(" [")[0]
        if key in seen:
            continue
        seen.add(key)
        scenes.append({"image_id": f"scene{len(scenes):04d}", "caption": scene["caption"]})
    return scenes


def split_scenes(scenes: list[dict], fractions=(0.7, 0.15, 0.15), seed: int = 7) -> dict[str, list[dict]]:
    """Shuffle and cut scenes into train/val/test caption lists."""
    order = list(scenes)
    random.Random(seed).shuffle(order)
    n_train = int(len(order) * fractions[0])
    n_val = int(len(order) * fractions[1])
    return {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}


def main() -> None:
    """Write ``captions_{train,val,test}.json`` and ``alpaca_generated.json`` under the seed folder."""
    from gpt4tools.data.alpaca_gen import compose_alpaca

    SEED_DIR.mkdir(parents=True, exist_ok=True)
    for split, items in split_scenes(compose_scenes()).items():
        (SEED_DIR / f"captions_{split}.json").write_text(json.dumps(items, indent=1) + "\n")
    (SEED_DIR / "alpaca_generated.json").write_text(json.dumps(compose_alpaca(), indent=1) + "\n")


if __name__ == "__main__":
    main()
