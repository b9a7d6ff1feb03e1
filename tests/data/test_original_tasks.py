"""The paper's 30 task definitions, each on a tiny local copy of its dataset (no network).

Every fixture has the dataset's hub schema (column names and feature types), a few rows
written here, and is loaded through ``datasets.load_dataset`` from local Parquet files;
the converted records are compared with records written out by hand (template 0).
"""

from __future__ import annotations

import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, Features, List, Value

from llmr.core.records import CLASSIFICATION, MULTIPLE_CHOICE, passage_contents
from llmr.core.schema import section_defaults, stage_defaults
from llmr.data.tasks import prepare
from llmr.data.tasks.original import (
    PAPER_EVAL_TASKS,
    PAPER_HELD_OUT,
    PAPER_TASKS,
    REGISTRY,
    load_original,
    template_of,
)

S, I32, F32 = Value("string"), Value("int32"), Value("float32")
STRS = List(S)
TEMPLATE = section_defaults("suite")["template"]  # the rule prepare's default template index


def _cl(*names: str) -> ClassLabel:
    return ClassLabel(names=list(names))


GLUE_MNLI = {
    "premise": S,
    "hypothesis": S,
    "label": _cl("entailment", "neutral", "contradiction"),
    "idx": I32,
}
ARC = {"id": S, "question": S, "choices": {"text": STRS, "label": STRS}, "answerKey": S}
PAIR = {"sentence1": S, "sentence2": S}

# task -> hub schema (features of the dataset's rows)
SCHEMAS: dict[str, dict] = {
    "aeslc": {"email_body": S, "subject_line": S},
    "ag_news": {"text": S, "label": _cl("World", "Sports", "Business", "Sci/Tech")},
    "arc_c": ARC,
    "arc_e": ARC,
    "boolq": {"question": S, "passage": S, "idx": I32, "label": _cl("False", "True")},
    "common_gen": {"concept_set_idx": I32, "concepts": STRS, "target": S},
    "copa": {
        "premise": S,
        "choice1": S,
        "choice2": S,
        "question": S,
        "idx": I32,
        "label": _cl("choice1", "choice2"),
    },
    "dart": {
        "gem_id": S,
        "gem_parent_id": S,
        "dart_id": I32,
        "tripleset": List(STRS),
        "subtree_was_extended": Value("bool"),
        "target_sources": STRS,
        "target": S,
        "references": STRS,
    },
    "e2e_nlg": {
        "gem_id": S,
        "gem_parent_id": S,
        "meaning_representation": S,
        "target": S,
        "references": STRS,
    },
    "gigaword": {"document": S, "summary": S},
    "hellaswag": {
        "ind": I32,
        "activity_label": S,
        "ctx_a": S,
        "ctx_b": S,
        "ctx": S,
        "endings": STRS,
        "source_id": S,
        "split": S,
        "split_type": S,
        "label": S,
    },
    "mnli": GLUE_MNLI,
    "mnli_m": GLUE_MNLI,
    "mnli_mm": GLUE_MNLI,
    "mrpc": {**PAIR, "label": _cl("not_equivalent", "equivalent"), "idx": I32},
    "multirc": {
        "paragraph": S,
        "question": S,
        "answer": S,
        "idx": {"paragraph": I32, "question": I32, "answer": I32},
        "label": _cl("False", "True"),
    },
    "natural_questions": {"question": S, "answer": STRS},
    "openbookqa": {
        "id": S,
        "question_stem": S,
        "choices": {"text": STRS, "label": STRS},
        "answerKey": S,
        "fact1": S,
        "humanScore": F32,
        "clarity": F32,
        "turkIdAnonymized": S,
    },
    "paws": {"id": I32, **PAIR, "label": _cl("0", "1")},
    "piqa": {"goal": S, "sol1": S, "sol2": S, "label": _cl("0", "1")},
    "qnli": {
        "question": S,
        "sentence": S,
        "label": _cl("entailment", "not_entailment"),
        "idx": I32,
    },
    "qqp": {"question1": S, "question2": S, "label": _cl("not_duplicate", "duplicate"), "idx": I32},
    "rte": {
        "premise": S,
        "hypothesis": S,
        "idx": I32,
        "label": _cl("entailment", "not_entailment"),
    },
    "sentiment140": {"text": S, "date": S, "user": S, "sentiment": I32, "query": S},
    "snli": {"premise": S, "hypothesis": S, "label": _cl("entailment", "neutral", "contradiction")},
    "squad_v1": {
        "id": S,
        "title": S,
        "context": S,
        "question": S,
        "answers": {"text": STRS, "answer_start": List(I32)},
    },
    "sst2": {"idx": I32, "sentence": S, "label": _cl("negative", "positive")},
    "winogrande": {"sentence": S, "option1": S, "option2": S, "answer": S},
    "wsc": {
        "text": S,
        "span1_index": I32,
        "span2_index": I32,
        "span1_text": S,
        "span2_text": S,
        "idx": I32,
        "label": _cl("False", "True"),
    },
    "wsc273": {
        "text": S,
        "pronoun": S,
        "pronoun_loc": I32,
        "quote": S,
        "quote_loc": I32,
        "options": STRS,
        "label": _cl("0", "1"),
        "source": S,
    },
    "yelp": {"text": S, "label": _cl("1", "2")},
}


def _arc(q: str, texts: list[str], key: str, labels: str = "ABCD") -> dict:
    return {
        "id": "Q1",
        "question": q,
        "choices": {"text": texts, "label": list(labels)},
        "answerKey": key,
    }


def _obqa(stem: str, texts: list[str], key: str, fact: str) -> dict:
    return {
        "id": "7-1",
        "question_stem": stem,
        "choices": {"text": texts, "label": list("ABCD")},
        "answerKey": key,
        "fact1": fact,
        "humanScore": 1.0,
        "clarity": 2.0,
        "turkIdAnonymized": "b356",
    }


def _mnli(p: str, h: str, label: int) -> dict:
    return {"premise": p, "hypothesis": h, "label": label, "idx": 0}


def _hella(ctx: str, endings: list[str], label: str) -> dict:
    return {
        "ind": 4,
        "activity_label": "Baking",
        "ctx_a": "",
        "ctx_b": "",
        "ctx": ctx,
        "endings": endings,
        "source_id": "wikihow~1",
        "split": "train",
        "split_type": "indomain",
        "label": label,
    }


WSC273_TEXT = "The city councilmen refused the demonstrators a permit because they feared violence."
WSC_TEXT = "Mark told Pete many lies about himself. He should have been more truthful."
ROOF = [
    "starts pulling up roofing.",
    "is ripping level tiles off.",
    "is holding a rubik's cube.",
    "is using wrap to wrap a pair of skis.",
]

# task -> hub split -> rows (the first rows of some splits are dropped by the task's filter)
ROWS: dict[str, dict[str, list[dict]]] = {
    "aeslc": {
        "train": [
            {"email_body": "  \n ", "subject_line": "Empty"},
            {
                "email_body": "Hi team,\n  the  meeting moves\nto Friday.",
                "subject_line": "Meeting\nmoved",
            },
        ],
        "test": [{"email_body": "Please review the budget.", "subject_line": "Budget"}],
    },
    "ag_news": {
        "train": [{"text": "Stocks rallied on Monday.", "label": 2}],
        "test": [{"text": "New chip unveiled.", "label": 3}],
    },
    "arc_c": {
        "train": [
            _arc("Which is a metal?", ["iron", "wood", "glass"], "A", "ABC"),
            _arc("Which is a gas?", ["ice", "steam", "water", "fog"], "2", "1234"),
        ],
        "test": [_arc("What do plants need?", ["salt", "sand", "light", "plastic"], "C")],
    },
    "arc_e": {
        "train": [_arc("What is H2O?", ["water", "salt", "gold", "air"], "A")],
        "test": [_arc("Which is warm?", ["snow", "ice", "hail", "sun"], "D")],
    },
    "boolq": {
        "train": [
            {
                "question": "is the sky blue",
                "passage": "The sky appears blue.",
                "idx": 0,
                "label": 1,
            }
        ],
        "validation": [
            {"question": "is fire cold", "passage": "Fire is hot.", "idx": 0, "label": 0}
        ],
    },
    "common_gen": {
        "train": [
            {
                "concept_set_idx": 0,
                "concepts": ["dog", "frisbee", "catch"],
                "target": "A dog catches a frisbee.",
            }
        ],
        "validation": [
            {
                "concept_set_idx": 1,
                "concepts": ["cook", "kitchen"],
                "target": "He cooks in the kitchen.",
            }
        ],
    },
    "copa": {
        "train": [
            {
                "premise": "The man broke his toe.",
                "choice1": "He dropped a hammer.",
                "choice2": "He got a hole in his sock.",
                "question": "cause",
                "idx": 0,
                "label": 0,
            }
        ],
        "validation": [
            {
                "premise": "I poured water on the fire.",
                "choice1": "The fire grew.",
                "choice2": "The fire went out.",
                "question": "effect",
                "idx": 1,
                "label": 1,
            }
        ],
    },
    "dart": {
        "train": [
            {
                "gem_id": "dart-train-0",
                "gem_parent_id": "dart-train-0",
                "dart_id": 0,
                "tripleset": [
                    ["[TABLECONTEXT]", "[TITLE]", "Films"],
                    ["Mars", "DIRECTOR", "Ann Lee"],
                ],
                "subtree_was_extended": False,
                "target_sources": ["wikitables"],
                "target": "Mars was directed by Ann Lee.",
                "references": [],
            }
        ],
        "validation": [
            {
                "gem_id": "dart-val-0",
                "gem_parent_id": "dart-val-0",
                "dart_id": 1,
                "tripleset": [["Paris", "CAPITAL_OF", "France"]],
                "subtree_was_extended": True,
                "target_sources": ["webnlg"],
                "target": "Paris is the capital of France.",
                "references": ["Paris is the capital of France."],
            }
        ],
    },
    "e2e_nlg": {
        "train": [
            {
                "gem_id": "e2e-train-0",
                "gem_parent_id": "e2e-train-0",
                "meaning_representation": "name[The Eagle], food[Thai]",
                "target": "The Eagle serves Thai food.",
                "references": [],
            }
        ],
        "test": [
            {
                "gem_id": "e2e-test-0",
                "gem_parent_id": "e2e-test-0",
                "meaning_representation": "name[Zizzi]",
                "target": "Zizzi is a restaurant.",
                "references": ["Zizzi is a restaurant."],
            }
        ],
    },
    "gigaword": {
        "train": [
            {"document": "UNK officials said on monday", "summary": "officials speak"},
            {"document": "india wins the cricket series", "summary": "india wins series"},
        ],
        "test": [
            {"document": "oil prices fall # percent", "summary": "oil falls"},
            {"document": "rain delays the final", "summary": "final delayed"},
        ],
    },
    "hellaswag": {
        "train": [
            _hella(
                "[header] How to bake bread [title] Mix the flour and water.",
                ["[step] Knead the dough.", "Paint the wall.", "Swim.", "Sleep."],
                "0",
            )
        ],
        "validation": [_hella("A man is sitting on a roof. he", ROOF, "3")],
    },
    "mnli": {"train": [_mnli("A man plays guitar.", "A person makes music.", 0)]},
    "mnli_m": {"validation": [_mnli("The cat sleeps.", "The cat is old.", 1)]},
    "mnli_mm": {"validation": [_mnli("It is raining.", "The ground is dry.", 2)]},
    "mrpc": {
        "train": [
            {"sentence1": "He left early.", "sentence2": "He departed early.", "label": 1, "idx": 0}
        ],
        "validation": [
            {"sentence1": "Prices rose.", "sentence2": "Prices fell.", "label": 0, "idx": 1}
        ],
    },
    "multirc": {
        "train": [
            {
                "paragraph": "Sam has a red bike.",
                "question": "What color is the bike?",
                "answer": "Red",
                "idx": {"paragraph": 0, "question": 0, "answer": 0},
                "label": 1,
            }
        ],
        "validation": [
            {
                "paragraph": "Sam has a red bike.",
                "question": "Who has a bike?",
                "answer": "Ann",
                "idx": {"paragraph": 0, "question": 1, "answer": 0},
                "label": 0,
            }
        ],
    },
    "natural_questions": {
        "train": [
            {"question": "who wrote hamlet", "answer": ["William Shakespeare", "Shakespeare"]}
        ],
        "validation": [{"question": "capital of japan", "answer": ["Tokyo"]}],
    },
    "openbookqa": {
        "train": [
            _obqa("The sun is a", ["planet", "star", "moon", "comet"], "B", "The sun is a star.")
        ],
        "test": [
            _obqa(
                "Water freezes at",
                ["100 C", "50 C", "10 C", "0 C"],
                "D",
                "Water freezes at zero degrees.",
            )
        ],
    },
    "paws": {
        "train": [{"id": 1, "sentence1": "A is B.", "sentence2": "B is A.", "label": 0}],
        "test": [{"id": 2, "sentence1": "It rained.", "sentence2": "Rain fell.", "label": 1}],
    },
    "piqa": {
        "train": [
            {"goal": "Open a jar", "sol1": "Twist the lid.", "sol2": "Eat the lid.", "label": 0}
        ],
        "validation": [
            {"goal": "Dry a shirt", "sol1": "Freeze it.", "sol2": "Hang it up.", "label": 1}
        ],
    },
    "qnli": {
        "train": [
            {"question": "Where is Paris?", "sentence": "Paris is in France.", "label": 0, "idx": 0}
        ],
        "validation": [
            {"question": "Who is Bo?", "sentence": "It is sunny.", "label": 1, "idx": 1}
        ],
    },
    "qqp": {
        "train": [
            {"question1": 'What is ""AI""?', "question2": "Define AI?", "label": 1, "idx": 0}
        ],
        "validation": [
            {"question1": "How to cook?", "question2": "How to swim?", "label": 0, "idx": 1}
        ],
    },
    "rte": {
        "train": [
            {"premise": "Dogs bark.", "hypothesis": "Dogs make sounds.", "idx": 0, "label": 0}
        ],
        "validation": [{"premise": "Cats meow.", "hypothesis": "Cats bark.", "idx": 1, "label": 1}],
    },
    "sentiment140": {
        "train": [
            {
                "text": "I love this!",
                "date": "Mon May 11",
                "user": "bo",
                "sentiment": 4,
                "query": "NO_QUERY",
            }
        ],
        "test": [
            {"text": "meh", "date": "Mon May 11", "user": "al", "sentiment": 2, "query": "kindle"},
            {
                "text": "worst day ever",
                "date": "Mon May 11",
                "user": "cy",
                "sentiment": 0,
                "query": "day",
            },
        ],
    },
    "snli": {
        "train": [
            {"premise": "A dog runs.", "hypothesis": "Unclear.", "label": -1},
            {"premise": "A dog runs.", "hypothesis": "A cat sleeps.", "label": 2},
        ],
        "test": [{"premise": "Kids play.", "hypothesis": "Kids are happy.", "label": 1}],
    },
    "squad_v1": {
        "train": [
            {
                "id": "a1",
                "title": "Super_Bowl_50",
                "context": "The game was in Santa Clara.",
                "question": "Where was the game?",
                "answers": {"text": ["Santa Clara", "Santa Clara"], "answer_start": [16, 16]},
            }
        ],
        "validation": [
            {
                "id": "b1",
                "title": "Oxygen",
                "context": "Oxygen has symbol O.",
                "question": "What is the symbol of oxygen?",
                "answers": {"text": ["O"], "answer_start": [18]},
            }
        ],
    },
    "sst2": {
        "train": [{"idx": 0, "sentence": "a gorgeous film", "label": 1}],
        "validation": [{"idx": 1, "sentence": "a dull mess", "label": 0}],
    },
    "winogrande": {
        "train": [
            {
                "sentence": "Sarah lent Maria a book because _ had finished it.",
                "option1": "Sarah",
                "option2": "Maria",
                "answer": "1",
            }
        ],
        "validation": [
            {
                "sentence": "The trophy did not fit the case because _ was too big.",
                "option1": "the case",
                "option2": "the trophy",
                "answer": "2",
            }
        ],
    },
    "wsc": {
        "train": [
            {
                "text": WSC_TEXT,
                "span1_index": 0,
                "span2_index": 7,
                "span1_text": "Mark",
                "span2_text": "He",
                "idx": 0,
                "label": 1,
            }
        ],
        "validation": [
            {
                "text": WSC_TEXT,
                "span1_index": 2,
                "span2_index": 7,
                "span1_text": "Pete",
                "span2_text": "He",
                "idx": 1,
                "label": 0,
            }
        ],
    },
    "wsc273": {
        "test": [
            {
                "text": WSC273_TEXT,
                "pronoun": "they",
                "pronoun_loc": WSC273_TEXT.index("they"),
                "quote": "they feared violence",
                "quote_loc": WSC273_TEXT.index("they"),
                "options": ["The city councilmen", "The demonstrators"],
                "label": 0,
                "source": "(Winograd 1972)",
            }
        ],
    },
    "yelp": {
        "train": [
            {"text": "word " * 300, "label": 1},
            {"text": r"Great tacos!\n\nWill return, said \"Bo\".", "label": 1},
        ],
        "test": [{"text": "Cold food.", "label": 0}],
    },
}

# task -> llmr split -> hand-written records (query, answers, options), template 0
EXPECTED: dict[str, dict[str, list[tuple[str, list[str], list[str]]]]] = {
    "aeslc": {
        "train": [
            (
                "What is the subject line for this email? Hi team, the meeting moves to Friday.",
                ["Meeting moved"],
                [],
            )
        ],
        "test": [
            ("What is the subject line for this email? Please review the budget.", ["Budget"], [])
        ],
    },
    "ag_news": {
        "train": [
            (
                '"Stocks rallied on Monday." What is this text about? World, Sports, '
                "Business, or Technology?",
                ["Business"],
                [],
            )
        ],
        "test": [
            (
                '"New chip unveiled." What is this text about? World, Sports, Business, or '
                "Technology?",
                ["Technology"],
                [],
            )
        ],
    },
    "arc_c": {
        "train": [("Which is a gas?", ["B"], ["ice", "steam", "water", "fog"])],
        "test": [("What do plants need?", ["C"], ["salt", "sand", "light", "plastic"])],
    },
    "arc_e": {
        "train": [("What is H2O?", ["A"], ["water", "salt", "gold", "air"])],
        "test": [("Which is warm?", ["D"], ["snow", "ice", "hail", "sun"])],
    },
    "boolq": {
        "train": [("The sky appears blue. Can we conclude that is the sky blue?", ["Yes"], [])],
        "test": [("Fire is hot. Can we conclude that is fire cold?", ["No"], [])],
    },
    "common_gen": {
        "train": [
            (
                "Concepts: dog, frisbee, catch. Write a sentence that includes all these words.",
                ["A dog catches a frisbee."],
                [],
            )
        ],
        "test": [
            (
                "Concepts: cook, kitchen. Write a sentence that includes all these words.",
                ["He cooks in the kitchen."],
                [],
            )
        ],
    },
    "copa": {
        "train": [
            (
                '"The man broke his toe." What is the cause?',
                ["A"],
                ["He dropped a hammer.", "He got a hole in his sock."],
            )
        ],
        "test": [
            (
                '"I poured water on the fire." What is the effect?',
                ["B"],
                ["The fire grew.", "The fire went out."],
            )
        ],
    },
    "dart": {
        "train": [
            (
                "Triple: , , Films; Mars, DIRECTOR, Ann Lee What is a sentence that describes "
                "this triple?",
                ["Mars was directed by Ann Lee."],
                [],
            )
        ],
        "test": [
            (
                "Triple: Paris, CAPITAL_OF, France What is a sentence that describes this triple?",
                ["Paris is the capital of France."],
                [],
            )
        ],
    },
    "e2e_nlg": {
        "train": [
            (
                "Attributes: name = The Eagle, food = Thai. Produce a detailed sentence about "
                "this restaurant.",
                ["The Eagle serves Thai food."],
                [],
            )
        ],
        "test": [
            (
                "Attributes: name = Zizzi. Produce a detailed sentence about this restaurant.",
                ["Zizzi is a restaurant."],
                [],
            )
        ],
    },
    "gigaword": {
        "train": [
            (
                "Write a short summary for this text: india wins the cricket series",
                ["india wins series"],
                [],
            )
        ],
        "test": [
            ("Write a short summary for this text: rain delays the final", ["final delayed"], [])
        ],
    },
    "hellaswag": {
        "train": [
            (
                "What happens next in this paragraph? How to bake bread Mix the flour and water.",
                ["A"],
                ["Knead the dough.", "Paint the wall.", "Swim.", "Sleep."],
            )
        ],
        "test": [
            ("What happens next in this paragraph? A man is sitting on a roof. he", ["D"], ROOF)
        ],
    },
    "mnli": {
        "train": [
            (
                'Premise: "A man plays guitar." Hypothesis: "A person makes music." Does the '
                "premise entail the hypothesis? Yes, No, or Maybe?",
                ["Yes"],
                [],
            )
        ],
        "test": [],
    },
    "mnli_m": {
        "train": [],
        "test": [
            (
                'Premise: "The cat sleeps." Hypothesis: "The cat is old." Does the premise '
                "entail the hypothesis? Yes, No, or Maybe?",
                ["Maybe"],
                [],
            )
        ],
    },
    "mnli_mm": {
        "train": [],
        "test": [
            (
                'Premise: "It is raining." Hypothesis: "The ground is dry." Does the premise '
                "entail the hypothesis? Yes, No, or Maybe?",
                ["No"],
                [],
            )
        ],
    },
    "mrpc": {
        "train": [
            (
                "Here are two sentences: He left early. He departed early. Do they have the "
                "same meaning?",
                ["Yes"],
                [],
            )
        ],
        "test": [
            (
                "Here are two sentences: Prices rose. Prices fell. Do they have the same meaning?",
                ["No"],
                [],
            )
        ],
    },
    "multirc": {
        "train": [
            (
                'Sam has a red bike. Question: "What color is the bike?" Response: "Red" Does '
                "the response correctly answer the question?",
                ["Yes"],
                [],
            )
        ],
        "test": [
            (
                'Sam has a red bike. Question: "Who has a bike?" Response: "Ann" Does the '
                "response correctly answer the question?",
                ["No"],
                [],
            )
        ],
    },
    "natural_questions": {
        "train": [
            ("Question: who wrote hamlet? Answer:", ["William Shakespeare", "Shakespeare"], [])
        ],
        "test": [("Question: capital of japan? Answer:", ["Tokyo"], [])],
    },
    "openbookqa": {
        "train": [("The sun is a star. The sun is a", ["B"], ["planet", "star", "moon", "comet"])],
        "test": [
            (
                "Water freezes at zero degrees. Water freezes at",
                ["D"],
                ["100 C", "50 C", "10 C", "0 C"],
            )
        ],
    },
    "paws": {
        "train": [("A is B. B is A. Do these sentences mean the same thing?", ["No"], [])],
        "test": [("It rained. Rain fell. Do these sentences mean the same thing?", ["Yes"], [])],
    },
    "piqa": {
        "train": [
            (
                'Here is a goal: "Open a jar" How would you accomplish this goal?',
                ["A"],
                ["Twist the lid.", "Eat the lid."],
            )
        ],
        "test": [
            (
                'Here is a goal: "Dry a shirt" How would you accomplish this goal?',
                ["B"],
                ["Freeze it.", "Hang it up."],
            )
        ],
    },
    "qnli": {
        "train": [
            (
                'Does the sentence "Paris is in France." answer the question "Where is Paris?"?',
                ["Yes"],
                [],
            )
        ],
        "test": [
            ('Does the sentence "It is sunny." answer the question "Who is Bo?"?', ["No"], [])
        ],
    },
    "qqp": {
        "train": [
            (
                '"What is \'AI\'?" "Define AI?" Would you say that these questions are the same?',
                ["Yes"],
                [],
            )
        ],
        "test": [
            (
                '"How to cook?" "How to swim?" Would you say that these questions are the same?',
                ["No"],
                [],
            )
        ],
    },
    "rte": {
        "train": [
            (
                'Dogs bark. Based on the paragraph above can we conclude that "Dogs make '
                'sounds."? Yes or No?',
                ["Yes"],
                [],
            )
        ],
        "test": [
            (
                'Cats meow. Based on the paragraph above can we conclude that "Cats bark."? '
                "Yes or No?",
                ["No"],
                [],
            )
        ],
    },
    "sentiment140": {
        "train": [("I love this! What is the sentiment of this tweet?", ["Positive"], [])],
        "test": [("worst day ever What is the sentiment of this tweet?", ["Negative"], [])],
    },
    "snli": {
        "train": [
            (
                'If "A dog runs.", does this mean that "A cat sleeps."? Yes, No, or Maybe?',
                ["No"],
                [],
            )
        ],
        "test": [
            (
                'If "Kids play.", does this mean that "Kids are happy."? Yes, No, or Maybe?',
                ["Maybe"],
                [],
            )
        ],
    },
    "squad_v1": {
        "train": [
            (
                "Please answer a question about the following article about Super Bowl 50: "
                "The game was in Santa Clara. Where was the game?",
                ["Santa Clara", "Santa Clara"],
                [],
            )
        ],
        "test": [
            (
                "Please answer a question about the following article about Oxygen: Oxygen "
                "has symbol O. What is the symbol of oxygen?",
                ["O"],
                [],
            )
        ],
    },
    "sst2": {
        "train": [
            (
                'Review: "a gorgeous film" Is this movie review sentence negative or positive?',
                ["Positive"],
                [],
            )
        ],
        "test": [
            (
                'Review: "a dull mess" Is this movie review sentence negative or positive?',
                ["Negative"],
                [],
            )
        ],
    },
    "winogrande": {
        "train": [
            (
                "How does the sentence end? Sarah lent Maria a book because",
                ["A"],
                ["Sarah had finished it.", "Maria had finished it."],
            )
        ],
        "test": [
            (
                "How does the sentence end? The trophy did not fit the case because",
                ["B"],
                ["the case was too big.", "the trophy was too big."],
            )
        ],
    },
    "wsc": {
        "train": [(f'{WSC_TEXT} Are "Mark" and "He" the same entity?', ["Yes"], [])],
        "test": [(f'{WSC_TEXT} Are "Pete" and "He" the same entity?', ["No"], [])],
    },
    "wsc273": {
        "train": [],
        "test": [
            (
                "The city councilmen refused the demonstrators a permit because ",
                ["A"],
                ["The city councilmen feared violence.", "The demonstrators feared violence."],
            )
        ],
    },
    "yelp": {
        "train": [
            (
                "Great tacos! Will return, said Bo. Is this review positive or negative?",
                ["Positive"],
                [],
            )
        ],
        "test": [("Cold food. Is this review positive or negative?", ["Negative"], [])],
    },
}


def write_fixtures(root) -> None:
    """One folder per task: ``<split>.parquet`` files in the dataset's hub schema."""
    for task, splits in ROWS.items():
        features = Features(SCHEMAS[task])
        (root / task).mkdir(parents=True)
        for split, rows in splits.items():
            data = {col: [r[col] for r in rows] for col in features}
            Dataset.from_dict(data, features=features).to_parquet(
                str(root / task / f"{split}.parquet")
            )


@pytest.fixture(scope="module")
def fixtures_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("original")
    write_fixtures(root / "datasets")
    return root


@pytest.fixture(scope="module")
def converted(fixtures_dir):
    """(train, test, passages, meta) of all 31 task names from the local fixtures."""
    return load_original(
        str(fixtures_dir / "datasets"),
        PAPER_TASKS,
        None,
        None,
        seed=0,
        template=0,
        cache_dir=str(fixtures_dir / "cache"),
    )


def test_registry_is_the_papers_suite():
    assert len(PAPER_TASKS) == 31 and len(PAPER_EVAL_TASKS) == 30
    assert set(PAPER_TASKS) - set(PAPER_EVAL_TASKS) == {"mnli"}
    assert {t for t in PAPER_TASKS if REGISTRY[t].train_split is None} == {
        "mnli_m",
        "mnli_mm",
        "wsc273",
    }
    assert set(PAPER_HELD_OUT) <= set(PAPER_EVAL_TASKS)
    assert set(SCHEMAS) == set(PAPER_TASKS) == set(EXPECTED)


@pytest.mark.parametrize("task", PAPER_TASKS)
def test_fixture_keeps_the_hub_schema(fixtures_dir, task):
    import datasets

    defn = REGISTRY[task]
    for which in ("train", "test"):
        split = defn.split(which)
        if split is None:
            continue
        ds = datasets.load_dataset(
            str(fixtures_dir / "datasets" / task),
            split=split,
            cache_dir=str(fixtures_dir / "cache"),
        )
        assert ds.features == Features(SCHEMAS[task])


@pytest.mark.parametrize("task", PAPER_TASKS)
def test_definition_converts_its_fixture(converted, task):
    train, test, _, _ = converted
    for which, df in (("train", train), ("test", test)):
        got = df[df.task_name == task]
        want = EXPECTED[task][which]
        assert list(got.query_id) == [f"{task}_{which}_{i}" for i in range(len(want))]
        assert [
            (q, list(a), list(o))
            for q, a, o in zip(got["query"], got.answers, got.options, strict=True)
        ] == want


@pytest.mark.parametrize("task", PAPER_TASKS)
def test_passages_are_query_newline_answer_text(converted, task):
    train, _, passages, _ = converted
    pool = passages[passages.task_name == task]
    want = []
    for query, answers, options in EXPECTED[task]["train"]:
        text = options["ABCD".index(answers[0])] if options else answers[0]
        want.append(passage_contents(query, text))
    assert list(pool.contents) == want
    assert list(pool.id) == list(train[train.task_name == task].query_id)


def test_meta_comes_from_the_definitions(converted):
    *_, meta = converted
    assert meta["mrpc"]["metric"] == meta["qqp"]["metric"] == "f1_acc"
    assert meta["squad_v1"]["metric"] == meta["natural_questions"]["metric"] == "exact_match"
    assert {meta[t]["metric"] for t in ("aeslc", "common_gen", "dart", "e2e_nlg", "gigaword")} == {
        "rouge"
    }
    assert meta["snli"] == {
        "task_type": CLASSIFICATION,
        "metric": "accuracy",
        "labels": ["Yes", "Maybe", "No"],
    }
    assert meta["hellaswag"]["task_type"] == MULTIPLE_CHOICE and meta["hellaswag"]["labels"] == []
    for task, m in meta.items():
        if m["task_type"] == CLASSIFICATION:  # every gold answer is one of the label words
            for _, answers, _ in EXPECTED[task]["train"] + EXPECTED[task]["test"]:
                assert answers[0] in m["labels"], task


def test_template_index_is_a_choice_modulo_the_count(fixtures_dir):
    defn = REGISTRY["rte"]
    train, *_ = load_original(
        str(fixtures_dir / "datasets"),
        ["rte"],
        None,
        None,
        seed=0,
        template=2,
        cache_dir=str(fixtures_dir / "cache"),
    )
    assert train["query"].tolist() == [
        "Dogs bark. Can we draw the following conclusion? Dogs make sounds. Yes or No?"
    ]
    assert template_of(defn, 2 + 9) == template_of(defn, 2) != template_of(defn, 0)
    assert template_of(REGISTRY["mnli_m"], 3) == template_of(REGISTRY["mnli"], 3)


def test_train_cap_keeps_the_whole_pool(fixtures_dir):
    train, test, passages, _ = load_original(
        str(fixtures_dir / "datasets"),
        ["snli", "gigaword"],
        1,
        None,
        seed=0,
        template=TEMPLATE,
        cache_dir=str(fixtures_dir / "cache"),
    )
    assert len(train) == 2 and len(passages) == 2 and len(test) == 2


def test_unknown_task_is_named(fixtures_dir):
    with pytest.raises(ValueError, match="unknown paper task 'mnli_matched'"):
        load_original(str(fixtures_dir / "datasets"), ["mnli_matched"], None, None, 0, TEMPLATE)


def test_prepare_from_original_datasets(fixtures_dir, tmp_path, monkeypatch):
    """prepare(source='original') writes the tables; test-only tasks have no pool."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", fixtures_dir / "cache")
    out = {k: str(tmp_path / f"{k}.parquet") for k in ("train", "test", "passages", "tasks")}
    tasks = ["mnli", "mnli_m", "wsc273", "piqa", "squad_v1", "qqp"]
    prepare(
        source="original",
        source_dir=str(fixtures_dir / "datasets"),
        tasks=tasks,
        held_out=["piqa"],
        out_train=out["train"],
        out_test=out["test"],
        out_passages=out["passages"],
        out_tasks=out["tasks"],
        **stage_defaults(prepare, "suite")
        | {"seed": 0, "max_train_per_task": None, "max_test_per_task": None, "template": 0},
    )
    meta = pd.read_parquet(out["tasks"]).set_index("task_name")
    assert meta.loc["wsc273", "n_passages"] == 0 and meta.loc["wsc273", "n_test"] == 1
    assert meta.loc["mnli", "n_test"] == 0 and meta.loc["mnli", "n_passages"] == 1
    assert meta.loc["qqp", "metric"] == "f1_acc" and list(meta.loc["qqp", "labels"]) == [
        "No",
        "Yes",
    ]
    assert meta.loc["squad_v1", "task_type"] == "generation"
    assert bool(meta.loc["piqa", "held_out"]) and set(meta.source) == {"original"}


def test_missing_hub_dataset_says_how_to_use_a_local_copy(tmp_path, monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError, match="suite.original_dir") as e:
        load_original(str(tmp_path), ["boolq"], None, None, 0, TEMPLATE)  # no boolq/ folder there
    assert "'aps/super_glue' (config 'boolq', split 'train')" in str(e.value)


@pytest.mark.slow
def test_workflow_prepares_original_datasets_with_the_configured_template(
    fixtures_dir, tmp_path, monkeypatch, tiny_suite_dir, tiny_lm, tiny_encoder
):
    from helpers.workflow import copy_workflow, snakemake, tiny_config, write_config

    monkeypatch.setenv("HF_DATASETS_CACHE", str(fixtures_dir / "cache"))
    wd = copy_workflow(tmp_path / "wf")
    cfg = tiny_config(tiny_suite_dir, tiny_lm, tiny_encoder)
    cfg["suite"].update(
        source="original",
        released_dir=None,
        template=1,
        original_dir=str(fixtures_dir / "datasets"),
        tasks=["rte", "copa", "squad_v1"],
        held_out=["copa"],
    )
    write_config(wd, cfg)
    snakemake(wd, "results/data/tasks.parquet")
    train = pd.read_parquet(wd / "results/data/train.parquet").set_index("query_id")
    assert train.loc["rte_train_0", "query"] == (
        "Dogs bark. Based on that paragraph can we conclude that this sentence is true? Dogs "
        "make sounds. Yes or No?"
    )
    tasks = pd.read_parquet(wd / "results/data/tasks.parquet").set_index("task_name")
    assert tasks.loc["copa", "task_type"] == MULTIPLE_CHOICE and bool(tasks.loc["copa", "held_out"])
