"""The pharmacy's pages for unblinded staff: the to-prepare and to-dispense lists, the kit
sheet with a prepared and a dispensed record per kit, the blinded labels and the UNBLINDED
preparation sheet (PDF)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microtrial.domain.access import Action
from microtrial.errors import SafetyBlock, ValidationError
from microtrial.http.deps import AppContext, ContextDep
from microtrial.i18n import N_
from microtrial.reports.kits import labels_pdf, preparation_pdf
from microtrial.services import pharmacy, trial_allocation
from microtrial.services.trial_allocation import KitPreparation
from microtrial.web.listing import list_request, pager
from microtrial.web.rendering import render, simulated_data
from microtrial.web.session import FormUserDep, FormValuesDep, PageUser, PageUserDep

router = APIRouter(include_in_schema=False)


@router.get("/pharmacy/kits")
def pharmacy_list(context: ContextDep, request: Request, user: PageUserDep) -> HTMLResponse:
    """Trials of the site with kits to prepare, and with prepared kits to hand out."""
    actor = user.require(Action.PREPARE_KITS)
    work = pharmacy.pharmacy_work(
        context.db,
        actor,
        prepare=list_request(request),
        dispense=list_request(request, page_param="dispense_page"),
        clock=context.clock,
    )
    return render(
        request,
        "pharmacy.html",
        {
            "work": work,
            "prepare_pager": pager(request, work.prepare_page),
            "dispense_pager": pager(request, work.dispense_page, "dispense_page"),
            "sort": request.query_params.get("sort", ""),
            "sorts": KIT_SORTS,
        },
    )


KIT_SORTS = (
    ("", N_("Earliest start first")),
    ("-start_date", N_("Latest start first")),
    ("patient", N_("By patient")),
)


def _preparation(context: AppContext, user: PageUser, trial_id: int) -> KitPreparation:
    actor = user.require(Action.SEE_ALLOCATION)
    return trial_allocation.kit_preparation(context.db, actor, trial_id, clock=context.clock)


def _sheet(
    context: AppContext,
    request: Request,
    user: PageUser,
    trial_id: int,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    prep = _preparation(context, user, trial_id)
    return render(
        request,
        "kit_sheet.html",
        {"prep": prep, "can_record": user.may(Action.PREPARE_KITS), "kit_form": form},
        status=status,
    )


@router.get("/pharmacy/trials/{trial_id}/kits")
def kit_sheet(
    context: ContextDep, request: Request, user: PageUserDep, trial_id: int
) -> HTMLResponse:
    """The kit preparation sheet: which arm goes into which kit (UNBLINDED), with each kit's
    prepared and dispensed record."""
    return _sheet(context, request, user, trial_id)


def _capsules(values: dict[str, str]) -> int:
    raw = values.get("capsules", "").strip()
    if not raw.isdigit():
        raise ValidationError("capsules", "enter the number of capsules", value=raw)
    return int(raw)


@router.post("/pharmacy/trials/{trial_id}/kits/{kit_code}/{step}")
def record_kit(
    context: ContextDep,
    request: Request,
    user: FormUserDep,
    values: FormValuesDep,
    trial_id: int,
    kit_code: str,
    step: str,
) -> Response:
    """Record a kit prepared or dispensed, with its capsule count."""
    actor = user.require(Action.PREPARE_KITS)
    if step not in pharmacy.KIT_STEPS:  # a forged step is no form error to show on the sheet
        raise ValidationError(
            "step", "unknown pharmacy step", value=step, allowed=sorted(pharmacy.KIT_STEPS)
        )
    try:
        pharmacy.record_kit_step(
            context.db, actor, trial_id, step, kit_code, _capsules(values), clock=context.clock
        )
    except (ValidationError, SafetyBlock) as err:
        # Shown beside the kit on the sheet: a refused capsule count (422), or a kit not to be
        # handed out now (423: the trial is paused, held by an alert, or ended).
        form = {
            "kit": kit_code,
            "step": step,
            "typed": values.get("capsules", ""),
            "error": str(err),
        }
        status = 423 if isinstance(err, SafetyBlock) else 422
        return _sheet(context, request, user, trial_id, form, status=status)
    return RedirectResponse(f"/pharmacy/trials/{trial_id}/kits#kit-{kit_code}", status_code=303)


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/pharmacy/trials/{trial_id}/labels.pdf")
def labels(context: ContextDep, user: PageUserDep, trial_id: int) -> Response:
    """Blinded kit labels with QR codes, dose days, storage, expiry, the trial-use line and the
    site's emergency contact (no arm and no substance anywhere in the PDF)."""
    prep = _preparation(context, user, trial_id)
    pdf = labels_pdf(prep, context.clock().date(), simulated=simulated_data(context))
    return _pdf(pdf, f"trial-{prep.trial_id}-labels.pdf")


@router.get("/pharmacy/trials/{trial_id}/preparation.pdf")
def preparation(context: ContextDep, user: PageUserDep, trial_id: int) -> Response:
    """The UNBLINDED preparation sheet as a PDF."""
    prep = _preparation(context, user, trial_id)
    pdf = preparation_pdf(prep, simulated=simulated_data(context))
    return _pdf(pdf, f"trial-{prep.trial_id}-preparation-UNBLINDED.pdf")
