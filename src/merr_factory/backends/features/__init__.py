"""The encoders of the ``features`` stage (Emotion-LLaMA's pre-extracted features) and the
choice of their inputs: which face frames, which 16-frame clips, how a face is cropped.

``inputs`` needs only numpy and Pillow; ``encoders`` needs torch and transformers
(``pip install 'merr-factory[features]'``) and is imported only when the stage loads them.
"""
