"""Other names for the seen tools, for the ``tool_aliases`` augmentation of training prompts.

A model tuned on a fixed catalog can learn the names of its tools by heart and pick them from the
request alone, without reading the tool list in the prompt - which is exactly what an unseen tool
needs. With ``data.tool_aliases`` > 0, each tool shown in a training prompt is, with that chance,
renamed to one of these names everywhere in the sample (tool list, format block, action lines), so
the right name has to be read from the prompt. The descriptions stay the catalog's. Only seen tools
have aliases, no alias is a catalog name, and none uses an unseen tool's name (checked in
``tests/test_data_pipeline.py``); evaluation sets always use the catalog names.
"""

from __future__ import annotations

TOOL_ALIASES: dict[str, tuple[str, ...]] = {
    "Text2Box": ("Locate The Given Object", "Find Object Box"),
    "Segmenting": ("Segment Everything In Image", "Whole Image Segmentation"),
    "ImageCaptioning": ("Describe The Photo", "Image Captioner"),
    "Text2Image": ("Draw Image From Text", "Text To Image Generator"),
    "Image2Canny": ("Extract Image Edges", "Canny Edge Map"),
    "CannyText2Image": ("Generate Image From Edge Map", "Edge To Image Generator"),
    "Image2Depth": ("Estimate Image Depth", "Depth Map Prediction"),
    "DepthText2Image": ("Generate Image From Depth Map", "Depth To Image Generator"),
    "VisualQuestionAnswering": ("Visual Question Answering", "Ask About The Image"),
    "InstructPix2Pix": ("Edit Image Style With Text", "Text Guided Image Editing"),
    "Image2Scribble": ("Make Scribble Of Image", "Scribble Extraction"),
    "ScribbleText2Image": ("Generate Image From Scribble", "Sketch To Image Generator"),
    "SegText2Image": ("Generate Image From Segmentation Map", "Segments To Image Generator"),
    "Image2Pose": ("Human Pose Estimation", "Extract Body Pose"),
    "PoseText2Image": ("Generate Image From Pose", "Pose To Image Generator"),
    "Image2Hed": ("Soft Edge Extraction", "HED Boundary Map"),
    "HedText2Image": ("Generate Image From Soft Edges", "HED To Image Generator"),
    "Image2Normal": ("Surface Normal Estimation", "Normal Map Prediction"),
    "NormalText2Image": ("Generate Image From Normal Map", "Normal To Image Generator"),
    "Image2Line": ("Straight Line Extraction", "Find Straight Lines"),
    "ObjectSegmenting": ("Mask The Given Object", "Segment One Object"),
    "ImageRemoving": ("Erase Object From Photo", "Object Removal"),
    "ImageReplacing": ("Swap Object In Photo", "Object Replacement"),
}
