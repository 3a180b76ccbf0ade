"""Prompt text with `<audio>` placeholders + clip features -> model inputs.

Each placeholder expands into `audio_tokens` copies of the `<audio>` token id; the model later
`masked_scatter`s the projected audio into exactly those positions (the Llava / Qwen2-Audio pattern).

    original     <audio>*N  <s> ### Instruction:\\n{text} ...     (the audio block first, before BOS: LTU)
    interleaved  <s> ### Instruction:\\n ... <audio>*N ... <audio>*N ...   (each block at its placeholder)

Batches are padded on the side named by `padding_side` ("left" by default: generation and scoring
read the last position of every row); position ids always come from the attention mask, so the
padding side never changes a row's result.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from shard.prompts.templates import AUDIO, LTU_PROMPT

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, AUDIO]
IGNORE = -100
FORMATS = ("original", "interleaved")


def build_tokenizer(texts: Sequence[str], vocab_size: int, required: Sequence[str] = ()) -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained on the workflow's own text (lower-cased words and punctuation).

    Every word of `required` (labels, benchmark words) must be in the vocabulary, so an option is a
    few whole-word tokens; those that `vocab_size` would cut are added beyond it.
    """
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("contiguous")])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces, tidies " ,"
    tok.train_from_iterator(list(texts) + list(required),
                            trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS))
    vocab = tok.get_vocab()
    words = (w for text in required for w, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text)))
    missing = sorted({w for w in words if w not in vocab})
    if missing:  # rarer than the cut-off: add them after the trained vocabulary
        vocab.update({w: len(vocab) + i for i, w in enumerate(missing)})
        tok.model = models.WordLevel(vocab=vocab, unk_token=UNK)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                   unk_token=UNK, extra_special_tokens=[AUDIO])


class AudioProcessor:
    """Turns (prompt texts, per-prompt clip features[, answers]) into one padded batch of tensors."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, audio_tokens: int, train_on_prompt: bool = False,
                 prompt_template: str = LTU_PROMPT):
        self.tokenizer = tokenizer
        self.audio_tokens = audio_tokens
        self.train_on_prompt = train_on_prompt
        self.prompt_template = prompt_template
        self.audio_token_id = tokenizer.convert_tokens_to_ids(AUDIO)
        self.pad_id, self.bos_id, self.eos_id = tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id

    # ------------------------------------------------------------------ one prompt
    def _words(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False) if text else []

    def encode_answer(self, answer: str) -> list[int]:
        """The token ids of an answer / option (no EOS): what option scoring sums over."""
        return self._words(answer)

    def encode_prompt(self, text: str, n_clips: int, fmt: str, name: str = "prompt") -> list[int]:
        """Token ids of one prompt, each `<audio>` expanded into `audio_tokens` audio ids."""
        n_placeholders = check_prompt(text, n_clips, fmt, name)
        block = [self.audio_token_id] * self.audio_tokens
        if fmt == "original":
            # LTU: all audio first, then BOS and the instruction with no placeholder left in it
            body = self.prompt_template.format(instruction=text.replace(AUDIO, "").strip())
            return block * n_placeholders + [self.bos_id] + self._words(body)
        pieces = self.prompt_template.format(instruction=text).split(AUDIO)
        ids = [self.bos_id] + self._words(pieces[0])
        for piece in pieces[1:]:
            ids += block + self._words(piece)
        return ids

    # ------------------------------------------------------------------ a batch
    def __call__(self, texts: Sequence[str], features: Sequence[Sequence[np.ndarray]], fmt: str,
                 answers: Sequence[str] | None = None, padding_side: str = "left",
                 names: Sequence[str] | None = None, add_eos: bool = True) -> dict[str, torch.Tensor]:
        """Batch of prompts (and, for training, their answers + EOS; `add_eos=False` to score an option).

        Returns input_ids, attention_mask, position_ids, labels (only with answers) and audio_features
        (all clips of the batch stacked in order of appearance, float32; None when no clip).
        """
        check_batch(texts, features, answers, padding_side)
        rows, targets, clips = [], [], []
        for i, (text, feats) in enumerate(zip(texts, features)):
            name = names[i] if names is not None else f"prompt {i}"
            answer = None if answers is None else self._words(answers[i]) + ([self.eos_id] if add_eos else [])
            ids, target = labelled_row(self.encode_prompt(text, len(feats), fmt, name), answer,
                                       self.train_on_prompt, self.audio_token_id)
            rows.append(ids)
            targets.append(target)
            clips.extend(np.asarray(f, dtype=np.float32) for f in feats)

        input_ids, labels, attention_mask = pad_rows(rows, targets, self.pad_id, padding_side)
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids_from_mask(attention_mask),
            "audio_features": torch.from_numpy(np.stack(clips)) if clips else None,
        }
        if answers is not None:
            batch["labels"] = labels
        return batch


def check_prompt(text: str, n_clips: int, fmt: str, name: str = "prompt") -> int:
    """One clip per `<audio>` placeholder, and an original-format prompt starts with its audio; returns the
    number of placeholders. Every backend's processor checks prompts the same way."""
    if fmt not in FORMATS:
        raise ValueError(f"{name}: unknown prompt format {fmt!r}; expected one of {FORMATS}")
    n_placeholders = text.count(AUDIO)
    if n_placeholders != n_clips:
        raise ValueError(f"{name}: {n_placeholders} {AUDIO} placeholder(s) but {n_clips} clip(s) in {text!r}; "
                         "the prompt's clip_ids must list one clip per placeholder")
    if fmt == "original" and n_placeholders and not text.startswith(AUDIO):
        raise ValueError(f"{name}: an original-format prompt starts with {AUDIO} "
                         f"(see shard.prompts.templates.to_original): {text!r}")
    return n_placeholders


def check_batch(texts, features, answers, padding_side: str) -> None:
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
    if len(features) != len(texts) or (answers is not None and len(answers) != len(texts)):
        raise ValueError("texts, features and answers must have one entry per prompt")


def pad_rows(rows: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], pad_id: int,
             padding_side: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token rows and their labels -> (input_ids, labels, attention_mask), padded on `padding_side`."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(zip(rows, targets)):
        span = slice(width - len(ids), width) if padding_side == "left" else slice(0, len(ids))
        input_ids[i, span] = torch.tensor(ids)
        labels[i, span] = torch.tensor(lab)
        attention_mask[i, span] = 1
    return input_ids, labels, attention_mask


def labelled_row(prompt: list[int], answer: list[int] | None, train_on_prompt: bool,
                 audio_token_id: int) -> tuple[list[int], list[int]]:
    """One training row and its labels: the prompt's ids (learnt only with train_on_prompt) then the
    answer's; audio positions are never a target. Every backend's processor builds its rows here."""
    label = list(prompt) if train_on_prompt else [IGNORE] * len(prompt)
    ids = prompt + (answer or [])
    label = label + (answer or [])
    return ids, [IGNORE if t == audio_token_id else lab for t, lab in zip(ids, label)]


def position_ids_from_mask(attention_mask: torch.Tensor, offset: torch.Tensor | int = 0) -> torch.Tensor:
    """0, 1, 2, ... over the real tokens of each row (pads get 0), so left padding shifts nothing."""
    pos = attention_mask.long().cumsum(-1) - 1
    return (pos.clamp(min=0) + (offset if isinstance(offset, int) else offset[:, None])) * attention_mask.long()
