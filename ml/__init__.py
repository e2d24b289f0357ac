"""Proofdesk ml: OpenCV preprocessing, Tesseract, onnxruntime and PyTorch. Never imports Qt."""


def runtime_info() -> dict[str, str]:
    """Versions of the engines and which onnxruntime providers can run here."""
    info: dict[str, str] = {}
    try:
        import tesserocr

        info["tesseract"] = tesserocr.tesseract_version().splitlines()[0]
    except Exception as exc:  # noqa: BLE001 - report, never fail `info`
        info["tesseract"] = f"unavailable ({exc})"
    try:
        import cv2

        info["opencv"] = cv2.__version__
    except Exception as exc:  # noqa: BLE001
        info["opencv"] = f"unavailable ({exc})"
    try:
        import onnxruntime as ort

        info["onnxruntime"] = f"{ort.__version__} (providers: {', '.join(ort.get_available_providers())})"
    except Exception as exc:  # noqa: BLE001
        info["onnxruntime"] = f"unavailable ({exc})"
    try:
        from ml.neural import runtime_info as neural_info

        # The provider a session really runs on, not merely the available ones.
        info.update(neural_info())
    except Exception as exc:  # noqa: BLE001
        info["neural model"] = f"unavailable ({exc})"
    return info
