"""The source viewer and citation checks over HTTP: a thin shell over ``rag.sources``.

A document is named by its id in the index (GET /api/documents), never by a path: which file is read,
and that it lies inside the corpus folder, is decided by ``rag.sources`` from the index's record.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator

from api.deps import ERRORS, Service
from rag.sources import (
    DEFAULT_SCALE,
    CitationCheck,
    CitationRef,
    PageMarks,
    SourceView,
    build_view,
    check,
    render_page,
)

router = APIRouter(prefix="/api", tags=["sources"], responses=ERRORS)

DocId = Annotated[str, Path(min_length=1, max_length=64, description="A document id of GET /api/documents.")]


class ViewQuery(BaseModel):
    start: int = Field(ge=0, description="Start of the cited span in the document's text (a citation's start).")
    end: int = Field(ge=1, description="End of the cited span (a citation's end).")
    chunk_id: str | None = Field(None, max_length=128, description="The citation's chunk_id: checked to be current.")
    page: int | None = Field(None, ge=1, le=100_000, description="PDF: the page to show (default: the passage's).")

    @model_validator(mode="after")
    def _ordered(self) -> ViewQuery:
        if self.end <= self.start:
            raise ValueError("end must be greater than start")
        return self


class PageMarksOut(PageMarks):
    image_url: str = Field(description="The page image (PNG).")


class SourceViewOut(SourceView):
    image_url: str | None = Field(None, description="The page image (PNG), for a page view.")
    also: list[PageMarksOut] = Field(
        [], description="Other pages the cited sentences run onto (across a page break), each with its image."
    )


class CheckRequest(BaseModel):
    citations: list[CitationRef] = Field(
        max_length=500, description="Citations as an answer gave them (source, chunk_id, file_sha256, index_version)."
    )


class CheckResult(BaseModel):
    index_version: str = Field(description="The index version now.")
    citations: list[CitationCheck] = Field(description="In the order given; stale: true when the source changed.")


@router.get("/documents/{doc_id}/view", response_model=SourceViewOut)
def view_source(doc_id: DocId, query: Annotated[ViewQuery, Query()], service: Service) -> SourceViewOut:
    """The document at a cited span: for a PDF its page (an image URL and the boxes to mark), for other
    documents the text around the span; 404 when the document or the passage is gone."""
    view = build_view(service.settings, service.store, doc_id, query.start, query.end, query.chunk_id, query.page)
    return SourceViewOut(
        **view.model_dump(exclude={"also"}),
        image_url=_page_url(doc_id, view.page) if view.kind == "page" and view.page else None,
        also=[PageMarksOut(**m.model_dump(), image_url=_page_url(doc_id, m.page)) for m in view.also],
    )


def _page_url(doc_id: str, page: int) -> str:
    return f"/api/documents/{doc_id}/pages/{page}"


@router.get(
    "/documents/{doc_id}/pages/{page}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The rendered page."}},
)
def page_image(
    doc_id: DocId,
    page: Annotated[int, Path(ge=1, le=100_000)],
    service: Service,
    scale: Annotated[float, Query(ge=0.1, le=4, description="Pixels per PDF point.")] = DEFAULT_SCALE,
) -> Response:
    """A page of an indexed PDF as a PNG image."""
    png = render_page(service.settings, service.store, doc_id, page, scale)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


@router.post("/citations/check", response_model=CheckResult)
def check_citations(body: CheckRequest, service: Service) -> CheckResult:
    """Whether the sources of an earlier answer's citations changed or were removed since it was made."""
    version, results = check(service.store, body.citations)
    return CheckResult(index_version=version, citations=results)
