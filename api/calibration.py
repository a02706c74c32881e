"""GET /api/calibration: the stored calibration of the answer checks (made by ``rag calibrate``)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ERRORS, Service
from rag.calibration import Calibration, load_calibration
from rag.errors import NotFound

router = APIRouter(prefix="/api", tags=["calibration"], responses=ERRORS)


@router.get("/calibration", response_model=Calibration)
def calibration(service: Service) -> Calibration:
    """The thresholds chosen on these documents, the target, the rates on the fitting and held-out
    halves, and ``stale`` when the index changed since; 404 when none is stored. Calibrating takes
    minutes with the local LLM: run ``rag calibrate`` (the server picks the result up at once)."""
    found = load_calibration(service.settings, service.store)
    if found is None:
        raise NotFound(f"no calibration stored for '{service.store.name}': run 'rag calibrate'")
    return found
