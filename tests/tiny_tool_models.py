"""Tiny random-weight models saved like real checkpoints, so the tools load them through their real code path."""

from __future__ import annotations

from pathlib import Path

import torch


def clip_tokenizer(folder: Path):
    """A CLIP tokenizer over a byte-level vocabulary (no merges), saved to ``folder``."""
    from transformers import CLIPTokenizer

    chars = [chr(c) for c in range(ord("!"), ord("~") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    tok.save_pretrained(folder)
    return tok


def sd_components(unet_in_channels: int = 4, cross_dim: int = 32):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=16,
                                in_channels=unet_in_channels, out_channels=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=cross_dim)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=cross_dim,
                                        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                        vocab_size=600, max_position_embeddings=16))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False)
    return dict(unet=unet, vae=vae, text_encoder=text, scheduler=scheduler)


def save_sd_pipeline(folder: Path, kind: str = "text2img") -> Path:
    """Save a tiny SD pipeline (``text2img``, ``inpaint`` or ``pix2pix``) to ``folder``."""
    from diffusers import (
        StableDiffusionInpaintPipeline,
        StableDiffusionInstructPix2PixPipeline,
        StableDiffusionPipeline,
    )

    in_ch = {"text2img": 4, "inpaint": 9, "pix2pix": 8}[kind]
    cls = {"text2img": StableDiffusionPipeline, "inpaint": StableDiffusionInpaintPipeline,
           "pix2pix": StableDiffusionInstructPix2PixPipeline}[kind]
    tok = clip_tokenizer(folder / "_tok")
    pipe = cls(**sd_components(in_ch), tokenizer=tok, safety_checker=None, feature_extractor=None,
               requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def save_controlnet(folder: Path) -> Path:
    from diffusers import ControlNetModel

    torch.manual_seed(0)
    ControlNetModel(block_out_channels=(32, 64), layers_per_block=1, in_channels=4,
                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), cross_attention_dim=32,
                    conditioning_embedding_out_channels=(16, 32)).save_pretrained(folder)
    return folder


def bert_vocab() -> dict[str, int]:
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "cat", "dog", "the", "what", "is", "in", "this",
             "picture", "photo", "of", "red", "color", ".", "?", ",", "person", "there"]
    return {w: i for i, w in enumerate(words)}


def save_blip(folder: Path, vqa: bool) -> Path:
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipForQuestionAnswering,
        BlipImageProcessor,
        BlipProcessor,
    )

    vocab = bert_vocab()
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    tok.add_special_tokens({"bos_token": "[CLS]", "eos_token": "[SEP]", "pad_token": "[PAD]"})
    text_cfg = dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=37, max_position_embeddings=64, encoder_hidden_size=32,
                    bos_token_id=vocab["[CLS]"], sep_token_id=vocab["[SEP]"], pad_token_id=0)
    vision_cfg = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                      image_size=32, patch_size=8)
    cfg = BlipConfig(text_config=text_cfg, vision_config=vision_cfg, projection_dim=32)
    torch.manual_seed(0)
    model = (BlipForQuestionAnswering if vqa else BlipForConditionalGeneration)(cfg)
    model.save_pretrained(folder)
    BlipProcessor(BlipImageProcessor(size={"height": 32, "width": 32}), tok).save_pretrained(folder)
    return folder


def save_sam(path: Path) -> dict:
    """A tiny SAM checkpoint (same classes as ViT-H SAM); returns the ``sam_model_type`` option for it."""
    from segment_anything.build_sam import _build_sam

    arch = dict(embed_dim=32, depth=2, num_heads=2, global_attn_indexes=[1])
    torch.manual_seed(0)
    sam = _build_sam(encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2, encoder_global_attn_indexes=[1])
    torch.save(sam.state_dict(), path)
    return arch


def save_tiny_bert(folder: Path) -> Path:
    """A 1-layer BERT with hidden size 256 (GroundingDINO's text width) and a small vocabulary."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = bert_vocab()
    BertTokenizerFast(vocab=vocab, do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=256, num_hidden_layers=1, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=256)).save_pretrained(folder)
    return folder


def save_groundingdino(folder: Path, text_encoder: Path) -> tuple[Path, Path]:
    """A small GroundingDINO config (1 encoder / decoder layer, 30 queries) and a random checkpoint."""
    import importlib.util

    from groundingdino.models import build_model
    from groundingdino.util.slconfig import SLConfig

    from gpt4tools.compat.groundingdino import ensure_bert_helpers

    ensure_bert_helpers()
    base = Path(next(iter(importlib.util.find_spec("groundingdino").submodule_search_locations)))
    text = (base / "config" / "GroundingDINO_SwinT_OGC.py").read_text()
    for old, new in (("enc_layers = 6", "enc_layers = 1"), ("dec_layers = 6", "dec_layers = 1"),
                     ("num_queries = 900", "num_queries = 3"), ("dim_feedforward = 2048", "dim_feedforward = 64"),
                     ("use_checkpoint = True", "use_checkpoint = False"),
                     ("use_transformer_ckpt = True", "use_transformer_ckpt = False")):
        assert old in text, old
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "tiny_groundingdino.py"
    config.write_text(text)
    args = SLConfig.fromfile(str(config))
    args.device = "cpu"
    args.text_encoder_type = str(text_encoder)
    torch.manual_seed(0)
    model = build_model(args)
    checkpoint = folder / "tiny_groundingdino.pth"
    torch.save({"model": model.state_dict()}, checkpoint)
    return config, checkpoint


def save_dpt(folder: Path) -> Path:
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    cfg = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=32,
                    patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 16, 32, 32],
                    fusion_hidden_size=16, head_in_index=-1)
    torch.manual_seed(0)
    DPTForDepthEstimation(cfg).save_pretrained(folder)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(folder)
    return folder


def save_detr(folder: Path) -> Path:
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig

    backbone = ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1],
                            out_features=["stage4"])
    cfg = DetrConfig(use_timm_backbone=False, backbone_config=backbone, d_model=32, encoder_layers=1,
                     decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                     decoder_ffn_dim=32, num_queries=10, use_pretrained_backbone=False,
                     id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})
    torch.manual_seed(0)
    DetrForObjectDetection(cfg).save_pretrained(folder)
    DetrImageProcessor(size={"shortest_edge": 32, "longest_edge": 64}).save_pretrained(folder)
    return folder
