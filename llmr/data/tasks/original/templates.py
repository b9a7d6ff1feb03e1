"""Prompt templates of the paper's 30 tasks, as data (wording from the paper's reference code).

``TEMPLATES[task]`` lists query templates; ``{field}`` names a field that the task's
conversion produces. The answer is always the bare answer text, so only the query side is
stored. The suite picks one with ``suite.template`` (index modulo the number of templates;
the paper's released data uses index 0).
"""

from __future__ import annotations

_NLI3 = "Yes, No, or Maybe?"

TEMPLATES: dict[str, list[str]] = {
    "aeslc": [
        "What is the subject line for this email? {body}",
        "Write a subject line for this message: {body}",
        "{body} Write a subject line for this email.",
        "Here is an email: {body} What is a potential subject line for this email?",
        "{body} Propose a subject line for this email?",
        "This is the content of an email: {body} What was the subject line for this email?",
        "This is an email {body} What is the subject of this email?",
        "{body} Generate a subject line for this email.",
    ],
    "ag_news": [
        '"{text}" What is this text about? World, Sports, Business, or Technology?',
        '"{text}" Which topic is this article about? World, Sports, Business, or Technology?',
        '"{text}" Which is the best summary of this article? World, Sports, Business, or '
        "Technology?",
        '"{text}" What is this text about? World, Sports, Business, or Technology?',
        '"{text}" What best summarizes the content of the above article? World, Sports, '
        "Business, or Technology?",
        'Which is this about? "{text}" World, Sports, Business, or Technology?',
        'Which is an appropriate title for this article? "{text}" World, Sports, Business, or '
        "Technology?",
        'Select the topic that this about: "{text}" World, Sports, Business, or Technology?',
    ],
    "arc": [
        "{question}",
        "Question: {question} Answer:",
        "Question: {question} What is the correct answer to the question from the following "
        "choices?",
        "Q: {question} What is the correct answer to this question?",
        "What is the answer? {question}",
        "Answer the question {question}",
        "{question} Pick the answer from these options.",
    ],
    "boolq": [
        "{text} Can we conclude that {question}?",
        "{text} Is it true that {question}?",
        "{text} {question}?",
        "Text: {text} Question: {question}?",
        "{text} What's the best answer to this question: {question}?",
        "{text} Based on the above text, what's the best answer to this question: {question}?",
        "{text} Answer this question, making sure that the answer is supposed by the text: "
        "{question}?",
        "{text} Is the following statement correct based on the text {question}",
        '{text} Is this statement correct "{question}"?',
        "Is it true that {question} based on the following text? {text}",
    ],
    "common_gen": [
        "Concepts: {concepts}. Write a sentence that includes all these words.",
        "Keywords: {concepts}. What is a sentence that includes all these keywords?",
        "Here are some concepts: {concepts}. What is a sentence about these concepts?",
        "Produce a sentence which mentions all of these concepts: {concepts}.",
        "Write a sentence about the following things: {concepts}.",
        "Generate a sentence that includes all the following words: {concepts}.",
    ],
    "copa": [
        '"{premise}" What is the {question}?',
        'Here is a premise: "{premise}" What is the {question}?',
        '"{premise}" What is the {question} of the preceding sentence?',
        '"{premise}" What is a plausible {question}?',
        'Based on the following sentence, what is the {question}? "{premise}"',
        '"{premise}" {question}:',
        'What is the {question} of the following sentence? "{premise}"',
        'Answer the following question about this sentence: "{premise}" What is the {question}?',
    ],
    "dart": [
        "Triple: {tripleset} What is a sentence that describes this triple?",
        "Data: {tripleset} What would a sentence about this data be like?",
        "Generate an approximately fifteen-word sentence that describes all this data: {tripleset}",
        "Here is some data: {tripleset}. Write a sentence that describes this data",
        "This is some data: {tripleset}. Generate a detailed description of this data",
        "Generate a sentence about this data: {tripleset}",
        "Write a sentence that about [{tripleset}].",
        "Produce a long descriptive sentence that uses all these words: {tripleset}",
    ],
    "e2e_nlg": [
        "Attributes: {meaning_representation}. Produce a detailed sentence about this restaurant.",
        "Data: {meaning_representation}. Can you generate a sentence about this data?",
        "Data: {meaning_representation}. What is a sentence that describe this data?",
        "Here are some keywords about a restaurant: {meaning_representation}. Write a sentence "
        "that describes the following attributes of a restaurant.",
        "Here is some data about a restaurant: {meaning_representation}. Write a sentence that "
        "includes the following data about a restaurant.",
        "Sentence: {meaning_representation}. Can you represent the content in this sentence in "
        "data form?",
        "Write a sentence about a restaurant with all the following attributes: "
        "{meaning_representation}.",
        "Write a sentence that is about a restaurant with all the following properties: "
        "{meaning_representation}.",
        "Produce a detailed sentence about a restaurant using the following words: "
        "{meaning_representation}.",
        "Generate a descriptive sentence about a restaurant using the following words: "
        "{meaning_representation}.",
    ],
    "gigaword": [
        "Write a short summary for this text: {text}",
        "Briefly summarize this sentence: {text}",
        "Generate a short summary this sentence: {text}",
        "What is a shorter version of this: {text}",
        "{text} Write a brief summary in a sentence or less",
        "{text} What is a very short summary of the above text?",
        "{text} Summarize the aforementioned text in a single phrase.",
        "{text} Can you generate a short summary of the above paragraph?",
    ],
    "hellaswag": [
        "What happens next in this paragraph? {context}",
        "Continue writing the next sentence in this paragraph: {context}",
        "Continue writing the next sentence. {context}",
        "This is a test of commonsense. Complete the next sentence: {context}",
        "Write the next sentence in this paragraph: {context}",
        "How does the next paragraph end? {context}",
        "What most naturally follows? {context}",
        "What happens next? {context}",
        "What is the most logical next event? {context}",
        "Write the next sentence in the following story. {context}",
    ],
    "mnli": [
        f'Premise: "{{premise}}" Hypothesis: "{{hypothesis}}" Does the premise entail the '
        f"hypothesis? {_NLI3}",
        f'Premise: "{{premise}}" Hypothesis: "{{hypothesis}}" Is the hypothesis entailed by the '
        f"premise? {_NLI3}",
        f'Here is a premise: "{{premise}}" Here is a hypothesis: "{{hypothesis}}" Is it possible '
        f"to conclude that if the premise is true, then so is the hypothesis? {_NLI3}",
        f'Sentence 1: "{{premise}}" Sentence 2: "{{hypothesis}}" Is this second sentence entailed '
        f"by the first sentence? {_NLI3}",
        f'Sentence 1: "{{premise}}" Sentence 2: "{{hypothesis}}" If the first sentence is true, '
        f"then is the second sentence true? {_NLI3}",
        f'Based on the premise "{{premise}}", can we conclude the hypothesis "{{hypothesis}}" is '
        f"true? {_NLI3}",
        f'Premise: "{{premise}}" If this premise is true, what does that tell us about whether '
        f'it entails the hypothesis "{{hypothesis}}"? {_NLI3}',
        f'Premise: "{{premise}}" Based on this premise, is the hypothesis "{{hypothesis}}" true? '
        f"{_NLI3}",
        f'If "{{premise}}", can we conclude that "{{hypothesis}}"? {_NLI3}',
        f'"{{premise}}" Does it follow that "{{hypothesis}}"? {_NLI3}',
    ],
    "mrpc": [
        "Here are two sentences: {sentence1} {sentence2} Do they have the same meaning?",
        "Here are two sentences: {sentence1} {sentence2} Are the two sentences saying the same "
        "thing?",
        "{sentence1} {sentence2} Do the above sentences mean the same thing?",
        "{sentence1} {sentence2} Please tell me if the sentences above mean the same.",
        "{sentence1} {sentence2} Are these sentences conveying the same meaning?",
        "{sentence1} {sentence2} If the first sentence is true, is the second one also true?",
        "{sentence1} {sentence2} Are these two sentences paraphrases of each other?",
        "Do the following two sentences have the same meaning? {sentence1} {sentence2}",
        "Do these two sentences mean the same thing? {sentence1} {sentence2}",
        "Do these sentences have the same meaning? {sentence1} {sentence2}",
    ],
    "multirc": [
        '{paragraph} Question: "{question}" Response: "{response}" Does the response correctly '
        "answer the question?",
        '{paragraph} Question: "{question}" Response: "{response}" Based on the paragraph, is the '
        "response to the question is factually correct?",
        '{paragraph} Question: "{question}" Answer: "{response}" Is this answer correct?',
        'Paragraph: {paragraph} Question: "{question}" Answer: "{response}" Based on the '
        "paragraph, is this answer correct",
        '{paragraph} Based on the paragraph, does the response "{response}" correctly answer the '
        'question "{question}"?',
        "{paragraph} According to the above paragraph, the correct answer to the question "
        '"{question}" is "{response}"?',
        '{paragraph} After reading the above, is "{response}" the correct answer to the question '
        '"{question}"?',
        '{paragraph} Question: "{question}" Answer: "{response}" Is this answer to the question '
        "correct?",
    ],
    "natural_questions": [
        "Question: {question} Answer:",
        "{question}",
        "Answer the following question: {question}",
        "Answer this question: {question}",
        "Please answer this question: {question}",
        "Answer the question...{question}",
        "What is the answer to this question? {question}",
        "Can you tell me the answer to {question}",
        "Next question: {question}",
        "Q: {question} A:",
    ],
    "openbookqa": [
        "{fact} {question}",
        'Read this fact: "{fact}" Now answer this question: "{question}"',
        'Given the fact "{fact}", what is the answer to the question or completion "{question}"',
        'Knowing that "{fact}", how would one answer "{question}"',
        'Use evidence from the fact that {fact} to answer this question: "{question}"',
        "Fact: {fact} Question: {question} What's the answer?",
        "Use this fact to answer the question: {fact} {question}",
    ],
    "paws": [
        "{sentence1} {sentence2} Do these sentences mean the same thing?",
        "{sentence1} {sentence2} Are these two sentences paraphrases of each other?",
        "1. {sentence1} 2. {sentence2} Are these two sentences paraphrases of each other?",
        "(1) {sentence1} (2) {sentence2} Do these two sentences mean the same thing?",
        "Sentence 1: {sentence1} Sentence 2: {sentence2} Do these two sentences convey the same "
        "information?",
        "Do these two sentences from wikipedia have the same meaning? {sentence1} {sentence2}",
        "Same meaning? {sentence1} {sentence2}",
        "Are these paraphrases? {sentence1} {sentence2}",
        "Do these mean the same? {sentence1} {sentence2}",
        'Please check if these have the same meaning. Answer "yes" if they do, otherwise "no". '
        "{sentence1} {sentence2}",
    ],
    "piqa": [
        'Here is a goal: "{goal}" How would you accomplish this goal?',
        'Here is a goal: "{goal}" Which way makes more sense to accomplish this goal?',
        'Goal: "{goal}" Which of the following methods is more reasonable for accomplishing this '
        "goal?",
        # the reference's text reads "BaseTaskive" here, a renaming accident of "Objective"
        'Objective: "{goal}" Which of the following solutions is more sound in terms of naive '
        "physics reasoning?",
        'How do you do this: "{goal}"',
        'What is the best way to: "{goal}"',
        'Which of the following solutions is better for the following goal: "{goal}"',
        'How would someone go about accomplishing this goal? "{goal}"',
    ],
    "qnli": [
        'Does the sentence "{sentence}" answer the question "{question}"?',
        'Does the sentence "{sentence}" provide a valid answer to the question "{question}"?',
        'Is "{sentence}" a good answer to the question "{question}"?',
        'Does "{sentence}" correctly answer the question of "{question}"?',
        'Does "{sentence}" contain the correct answer to "{question}"?',
        "Q: {question}  A: {sentence}  Does the answer correctly answer the question?",
        "Question: {question} Answer: {sentence}  Is the question answered in a satisfactory "
        "fashion?",
        "Question: {question} Is {sentence} a good answer to this question?",
        'Question: {question} Is "{sentence}" the correct answer?',
    ],
    "qqp": [
        '"{question1}" "{question2}" Would you say that these questions are the same?',
        '"{question1}" "{question2}" Do those questions have the same meaning?',
        '"{question1}" "{question2}" Are these two questions inquiring about the same information?',
        '"{question1}" "{question2}" Please tell me if those questions are the same.',
        '"{question1}" "{question2}" Are these two questions paraphrases of each other?',
        'First question: "{question1}" Second question: "{question2}" Are these two questions '
        "asking the same thing?",
        'Question 1: "{question1}" Question 2: "{question2}" Are questions 1 and 2 asking the '
        "same thing?",
        'Question 1: "{question1}" Question 2: "{question2}" Would the answer to these two '
        "questions be the same?",
        'Are the following two questions the same? "{question1}" "{question2}"',
        'Do these questions have the same meaning? "{question1}" "{question2}"',
    ],
    "rte": [
        '{premise} Based on the paragraph above can we conclude that "{hypothesis}"? Yes or No?',
        "{premise} Based on that paragraph can we conclude that this sentence is true? "
        "{hypothesis} Yes or No?",
        "{premise} Can we draw the following conclusion? {hypothesis} Yes or No?",
        "{premise} Does this next sentence follow, given the preceding text? {hypothesis} Yes or "
        "No?",
        "{premise} Can we infer the following? {hypothesis} Yes or No?",
        "Read the following paragraph and determine if the hypothesis is true: {premise} "
        "Hypothesis: {hypothesis} Yes or No?",
        "Read the text and determine if the sentence is true: {premise} Sentence: {hypothesis} "
        "Yes or No?",
        "Can we draw the following hypothesis from the context?  Context: {premise} Hypothesis: "
        "{hypothesis} Yes or No?",
        "Determine if the sentence is true based on the text below: {hypothesis} {premise} Yes "
        "or No?",
    ],
    "sentiment140": [
        "{text} What is the sentiment of this tweet?",
        "{text} How would the sentiment of this tweet be described?",
        "{text} Describe the sentiment embodied by this tweet.",
        "Tweet: {text} Predict the sentiment of this tweet.",
        "What is the sentiment of the following tweet? Tweet:{text}",
        "How would one describe the sentiment of this tweet? {text}",
    ],
    "snli": [
        f'If "{{premise}}", does this mean that "{{hypothesis}}"? {_NLI3}',
        f'If "{{premise}}", can we conclude "{{hypothesis}}"? {_NLI3}',
        f'If "{{premise}}", does it logically follow that "{{hypothesis}}"? {_NLI3}',
        f'Based on the sentence "{{premise}}", is the sentence "{{hypothesis}}" a true sentence? '
        f"{_NLI3}",
        "Premise: {premise} Hypothesis: {hypothesis} Can we conclude that the hypothesis is "
        f"true if the premise is true? {_NLI3}",
        "Premise: {premise} Hypothesis: {hypothesis} Given the premise, can we conclude the "
        f"hypothesis? {_NLI3}",
        f'Here is a premise: "{{premise}}" Here is a hypothesis: "{{hypothesis}}". Does the '
        f"premise tell us whether the hypothesis is true? {_NLI3}",
        f'Is it possible to conclude that "{{premise}}" if "{{hypothesis}}"? {_NLI3}',
        f'Is the premise "{{premise}}" true if "{{hypothesis}}"? {_NLI3}',
    ],
    "squad_v1": [
        "Please answer a question about the following article about {title}: {context} {question}",
        "Read this and answer the question {context} {question}",
        "{context} {question}",
        "Answer a question about this article: {context} {question}",
        "Here is a question about this article: {context} What is the answer to this question: "
        "{question}",
        "Article: {context} Question: {question}",
        "Article: {context} Now answer this question: {question}",
        "{title} {context} Q: {question}",
    ],
    "sst2": [
        'Review: "{sentence}" Is this movie review sentence negative or positive?',
        'Short movie review: "{sentence}" Did the critic thinking positively or negatively of '
        "the movie?",
        'Sentence from a movie review: "{sentence}" Was the movie seen positively or negatively '
        "based on the preceding review?",
        '"{sentence}" How would the sentiment of this sentence be perceived?',
        'Is the sentiment of the following sentence positive or negative? "{sentence}"',
        'What is the sentiment of the following movie review sentence? "{sentence}"',
        'Would the following phrase be considered positive or negative? "{sentence}"',
        'Does the following review have a positive or negative opinion of the movie? "{sentence}"',
    ],
    "winogrande": [
        "How does the sentence end? {context}",
        "Write the next sentence. {context}",
        "Continue the following story. {context}",
        "Complete the following sentence. {context}",
        "Continue writing the following text. {context}",
    ],
    "wsc": [
        '{context} Are "{text1}" and "{text2}" the same entity?',
        '{context} Do "{text1}" and "{text2}" have the same meaning?',
        'Given the following context {context} Are "{text1}" and "{text2}" the same?',
        '{context} Do "{text2}" and "{text1}" mean the same thing?',
        '{context} Are "{text2}" and "{text1}" the same thing in the aforementioned sentence?',
        'Context:{context} Is "{text2}" the same as "{text1}"?',
        'Consider this sentence: {context} Are "{text2}" and "{text1}" the same?',
        'Are "{text1}" and "{text2}" the same in this sentence? {context}',
        'Is "{text1}" the same as "{text2}" in this sentence? {context}',
        'Do "{text1}" and "{text2}" point to the same thing in the following sentence? {context}',
    ],
    "wsc273": [
        "{context}",
        "Complete the passage. {context}",
        "How does this following sentence end? {context}",
        "What is the most logical completion for the following text? {context}",
        "How does this text end? {context}",
        "What happens next? {context}",
        "Complete the following sentence. {context}",
        "Fill in the remainder of the sentence. {context}",
        "What is the next event? {context}",
        "Complete the rest of the sentence. {context}",
    ],
    "yelp": [
        "{text} Is this review positive or negative?",
        "{text} What is the sentiment of this review?",
        "{text} Was this review given positively or negatively?",
        "{text} How would this review be described in terms of sentiment?",
        "Is the following review positive or negative? {text}",
        "What is the sentiment of the following review? {text}",
        "How might one describe the sentiment of this review? {text}",
    ],
}
