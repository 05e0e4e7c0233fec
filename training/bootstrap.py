"""Build a small, randomly initialised T5 and its tokenizer, fully offline.

For tests and the demo, where no Hugging Face hub is reachable: a SentencePiece
unigram tokenizer trained on the bundled BBC News text (T5's special-token
layout: <pad>=0, </s>=1, <unk>=2, plus 100 <extra_id_N> sentinels) and a
T5ForConditionalGeneration built from a small T5Config. Real users start from
`t5-small` (or another T5) on the hub instead; the training job does that.

    python -m training.bootstrap --output artifacts/bootstrap

writes

    DIR/model/      config.json, generation_config.json, model.safetensors
    DIR/tokenizer/  spiece.model, tokenizer.json, tokenizer_config.json

No base name appears in both folders (Snowflake flattens all imports into one
directory). The build is deterministic: the same arguments give byte-identical
files, which the deploy tool relies on because it content-addresses them.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

from deploy.units import human_bytes
from training.corpus import load_split
from udf.handler import MAX_INPUT_TOKENS, MAX_NEW_TOKENS, NUM_BEAMS

PAD_ID, EOS_ID, UNK_ID = 0, 1, 2
EXTRA_IDS = 100
# SentencePiece records its thread count in the model file, so it is fixed
# rather than taken from the machine: otherwise spiece.model differs per host.
SPM_THREADS = 2
DEFAULT_VOCAB_SIZE = 3000
DEFAULT_MAX_SENTENCES = 4000

MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors")
TOKENIZER_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json")


class BootstrapError(RuntimeError):
    """The bootstrap cannot run as asked (bad arguments, existing output, old library)."""


def training_sentences(max_sentences: int, seed: int) -> list[str]:
    """Paragraphs of train-split articles and summaries, a seeded sample of at most `max_sentences`."""
    paragraphs = [
        paragraph.strip()
        for row in load_split("train")
        for field in ("article", "summary")
        for paragraph in row[field].split("\n")
        if paragraph.strip()
    ]
    if len(paragraphs) <= max_sentences:
        return paragraphs
    return random.Random(seed).sample(paragraphs, max_sentences)


def train_sentencepiece(sentences: list[str], vocab_size: int, seed: int) -> bytes:
    """Serialized SentencePiece unigram model with T5's special-token ids."""
    import sentencepiece as spm

    spm.set_random_generator_seed(seed)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        pad_id=PAD_ID,
        eos_id=EOS_ID,
        unk_id=UNK_ID,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        character_coverage=1.0,
        # Identity keeps the model free of a precompiled normalisation map, so the
        # fast tokenizer below encodes exactly like spiece.model without protobuf.
        normalization_rule_name="identity",
        num_threads=SPM_THREADS,
        minloglevel=2,
    )
    return model.getvalue()


def build_tokenizer(spiece_model: bytes):
    """The fast T5Tokenizer for a SentencePiece model, T5 vocabulary layout included."""
    import sentencepiece as spm
    from transformers import T5Tokenizer

    processor = spm.SentencePieceProcessor(model_proto=spiece_model)
    pieces = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(len(processor))]
    # As t5-small: sentinels follow the pieces in reverse, so <extra_id_0> is the last id.
    sentinels = [f"<extra_id_{i}>" for i in reversed(range(EXTRA_IDS))]
    # The vocabulary is passed in rather than read with from_pretrained(spiece.model):
    # that conversion needs protobuf, which this environment does not have.
    return T5Tokenizer(
        vocab=pieces + [(token, 0.0) for token in sentinels],
        extra_ids=EXTRA_IDS,
        additional_special_tokens=sentinels,
        model_max_length=MAX_INPUT_TOKENS,
    )


def build_model(
    vocab_size: int,
    *,
    d_model: int,
    d_ff: int,
    num_layers: int,
    num_decoder_layers: int,
    num_heads: int,
    d_kv: int,
    seed: int,
):
    """A randomly initialised T5ForConditionalGeneration (seeded) with greedy generation defaults."""
    import torch
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=vocab_size,
        d_model=d_model,
        d_ff=d_ff,
        d_kv=d_kv,
        num_layers=num_layers,
        num_decoder_layers=num_decoder_layers,
        num_heads=num_heads,
        feed_forward_proj="relu",
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=PAD_ID,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    # With tied embeddings an untrained decoder mostly predicts its own input,
    # and its first input is <pad> (the decoder start): it would emit <pad>
    # forever and every summary would be "". A zero <pad> row makes it emit
    # (gibberish) text that depends on the input, which tests can check.
    with torch.no_grad():
        model.get_input_embeddings().weight[PAD_ID].zero_()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=PAD_ID,
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        max_new_tokens=MAX_NEW_TOKENS,
        num_beams=NUM_BEAMS,
        do_sample=False,
    )
    return model.eval()


def _require_transformers_5() -> None:
    import transformers

    major = int(transformers.__version__.split(".")[0])
    if major < 5:
        raise BootstrapError(
            f"the bootstrap builds its tokenizer with transformers 5 (found {transformers.__version__});"
            " the artifacts it writes also load under 4.41+"
        )


def _prepare_folder(folder: Path, overwrite: bool) -> None:
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise BootstrapError(f"{folder} is not empty (pass --overwrite to replace it)")
        for entry in folder.iterdir():
            if entry.is_dir():
                raise BootstrapError(f"refusing to overwrite {folder}: it contains a folder {entry}")
            entry.unlink()
    folder.mkdir(parents=True, exist_ok=True)


def _make_readable(folder: Path) -> None:
    # transformers 5 writes model.safetensors as 0600; the stage upload and other
    # users need to read every file.
    folder.chmod(0o755)
    for entry in folder.iterdir():
        entry.chmod(0o644)


def bootstrap(
    output: Path,
    *,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    d_model: int = 128,
    d_ff: int = 512,
    num_layers: int = 2,
    num_decoder_layers: int = 2,
    num_heads: int = 4,
    d_kv: int = 32,
    seed: int = 0,
    max_sentences: int = DEFAULT_MAX_SENTENCES,
    overwrite: bool = False,
    quiet: bool = False,
) -> Path:
    """Write a small T5 (model/ and tokenizer/) under `output` and return `output`.

    `vocab_size` counts SentencePiece pieces (including <pad>, </s>, <unk>); the
    model's vocabulary adds the 100 sentinel tokens on top.
    """
    for name, value in {
        "d_model": d_model,
        "d_ff": d_ff,
        "num_layers": num_layers,
        "num_decoder_layers": num_decoder_layers,
        "num_heads": num_heads,
        "d_kv": d_kv,
        "max_sentences": max_sentences,
    }.items():
        if value < 1:
            raise BootstrapError(f"{name} must be at least 1, got {value}")
    if vocab_size < 100:
        raise BootstrapError(f"vocab_size must be at least 100, got {vocab_size}")
    _require_transformers_5()

    started = time.perf_counter()
    output = Path(output)
    model_dir, tokenizer_dir = output / "model", output / "tokenizer"
    _prepare_folder(model_dir, overwrite)
    _prepare_folder(tokenizer_dir, overwrite)

    try:
        spiece_model = train_sentencepiece(training_sentences(max_sentences, seed), vocab_size, seed)
    except RuntimeError as error:
        # e.g. "Vocabulary size is too high" for a small sample
        raise BootstrapError(f"SentencePiece training failed: {error}") from error
    tokenizer = build_tokenizer(spiece_model)
    tokenizer.save_pretrained(str(tokenizer_dir))
    # transformers 5 does not write spiece.model; the slow tokenizer of 4.x needs it.
    (tokenizer_dir / "spiece.model").write_bytes(spiece_model)

    model = build_model(
        len(tokenizer),
        d_model=d_model,
        d_ff=d_ff,
        num_layers=num_layers,
        num_decoder_layers=num_decoder_layers,
        num_heads=num_heads,
        d_kv=d_kv,
        seed=seed,
    )
    model.save_pretrained(str(model_dir))

    for folder in (model_dir, tokenizer_dir):
        _make_readable(folder)
    shared = {p.name for p in model_dir.iterdir()} & {p.name for p in tokenizer_dir.iterdir()}
    if shared:
        raise BootstrapError(f"model/ and tokenizer/ share file names {sorted(shared)}")

    if not quiet:
        parameters = sum(p.numel() for p in model.parameters())
        print(f"bootstrap T5 written to {output.resolve()} in {time.perf_counter() - started:.1f} s")
        print(
            f"  model: {parameters:,} parameters, d_model {d_model}, d_ff {d_ff},"
            f" {num_layers}+{num_decoder_layers} layers, {num_heads} heads;"
            f" model.safetensors {_size(model_dir / 'model.safetensors')}"
        )
        print(
            f"  tokenizer: {len(tokenizer):,} tokens ({vocab_size:,} pieces + {EXTRA_IDS} sentinels);"
            f" spiece.model {_size(tokenizer_dir / 'spiece.model')}"
        )
    return output


def _size(path: Path) -> str:
    return human_bytes(path.stat().st_size)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.bootstrap",
        description="Build a small random T5 and a SentencePiece tokenizer offline (tests, demo).",
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for model/ and tokenizer/")
    parser.add_argument(
        "--vocab-size",
        type=int,
        default=DEFAULT_VOCAB_SIZE,
        help="SentencePiece pieces, before the 100 sentinels (default %(default)s)",
    )
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--d-ff", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2, help="encoder layers")
    parser.add_argument("--num-decoder-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--d-kv", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-sentences",
        type=int,
        default=DEFAULT_MAX_SENTENCES,
        help="paragraphs sampled for SentencePiece training (default %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace files already in DIR/model and DIR/tokenizer")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        bootstrap(
            args.output,
            vocab_size=args.vocab_size,
            d_model=args.d_model,
            d_ff=args.d_ff,
            num_layers=args.num_layers,
            num_decoder_layers=args.num_decoder_layers,
            num_heads=args.num_heads,
            d_kv=args.d_kv,
            seed=args.seed,
            max_sentences=args.max_sentences,
            overwrite=args.overwrite,
        )
    except BootstrapError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
