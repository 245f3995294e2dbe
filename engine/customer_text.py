"""Words the customer reads (pages, messages), in English and German; staff pages stay English."""
from __future__ import annotations

from datetime import date, datetime

LANGUAGES = ("en", "de")
DEFAULT = "en"

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "status.received": "Received at the service centre",
        "status.diagnosing": "Being diagnosed by a technician",
        "status.awaiting_approval": "Waiting for your approval of the quote",
        "status.repairing": "Being repaired",
        "status.quality_check": "In final quality check",
        "status.returning": "Being packed and sent back to you",
        "status.closed": "Completed",
        "outcome.repaired": "Repaired",
        "outcome.returned_unrepaired": "Returned without repair",
        "outcome.no_fault_found": "No fault found",
        "status.requested": "Request received",
        "status.awaiting_unit": "Waiting for your parcel",
        "status.reviewing_quote": "Your quote is being reviewed",
        "status.replacing": "A new unit is being prepared for you",
        "outcome.resolved_remotely": "Solved without a shipment",
        "outcome.expired": "Closed: the unit never arrived",
        "outcome.replaced": "Replaced by a new unit",
        "outcome.traded_in": "Traded in for a newer model",
        "step.received": "Received", "step.diagnosing": "Diagnosis", "step.awaiting_approval": "Your approval",
        "step.repairing": "Repair", "step.quality_check": "Quality check", "step.returning": "On its way back",
        "step.closed": "Completed",
        "event.rma_opened": "Repair request registered",
        "event.quote_approved": "You approved the quote",
        "event.quote_declined": "You declined the quote",
        "event.quote_expired": "The quote expired without an answer, so the unit comes back unrepaired",
        "milestone.intake_receipt": "Condition of your unit recorded; receipt sent",
        "milestone.diagnosis_complete": "Diagnosis complete",
        "milestone.quote_ready": "Quote ready for your decision",
        "milestone.approval_reminder": "Reminder sent: the quote is waiting for your decision",
        "milestone.approval_expired": "The quote expired without an answer",
        "milestone.repair_complete": "Repaired and passed the quality check",
        "milestone.unit_shipped": "Sent back to you",
        "page.title": "Repair tracking", "page.repair": "Repair", "page.result": "Result",
        "page.product": "Product", "page.serial": "Serial number", "page.registered": "Registered",
        "page.progress": "Progress", "page.milestones": "Milestones", "page.eta": "Estimated completion",
        "page.eta_done": "Completed on", "page.current": "current step", "page.done": "done",
        "page.todo": "to come", "page.quote": "Repair quote", "page.approval_needed": "Your approval is needed",
        "page.approval_intro": "Your unit is not covered by warranty. Please approve the quote to have it repaired, or decline it and we will send it back unrepaired.",
        "page.quote_version": "Quote version", "page.line": "Item", "page.amount": "Amount",
        "page.parts": "Parts", "page.labour": "Labour: {hours} h × {rate}", "page.skip": "Skip to content", "page.total": "Total",
        "page.approve": "Approve the repair", "page.decline": "Decline",
        "page.approved": "You approved this quote on {at}.", "page.declined": "You declined this quote on {at}.",
        "page.expired": "This quote expired on {at} without an answer.",
        "page.void": "This quote was replaced by a newer one.",
        "page.thanks_approved": "Thank you: you approved the quote. We will repair your unit now.",
        "page.thanks_declined": "Thank you: you declined the quote. We will send your unit back unrepaired.",
        "page.not_recorded": "Your answer was not recorded: {reason}",
        "page.quote_changed": "the quote changed; please review the new quote",
        "page.sms": "Text messages", "page.sms_on": "We send short updates by text message to {phone}.",
        "page.sms_off": "You turned text messages off; we still email you at each milestone.",
        "page.sms_stop": "Stop text messages", "page.sms_start": "Send text messages again",
        "page.sms_saved": "Your choice was saved.", "page.receipt": "Intake receipt (PDF)",
        "page.footer": "Questions about your repair? Reply to the message that brought you here and quote {number}.",
        "receipt.title": "Intake receipt", "receipt.number": "RMA number", "receipt.date": "Received on",
        "receipt.customer": "Customer", "receipt.product": "Product", "receipt.fault": "Reported fault",
        "receipt.condition": "Condition grade", "receipt.notes": "Condition notes",
        "receipt.accessories": "Accessories received", "receipt.photos": "Photos taken",
        "receipt.track": "Track your repair", "receipt.none": "none", "receipt.centre": "Service centre",
        "receipt.sign": "Customer signature",
        "eta.range": "between {earliest} and {latest}", "eta.history": "from {n} repairs at this centre in the last {days} days",
        "eta.defaults": "from our standard service times (too few recent repairs at this centre to go by)",
        "eta.queue": "including {n} units waiting ahead of yours for {stage}",
    },
    "de": {
        "status.received": "Im Servicecenter eingegangen",
        "status.diagnosing": "Wird von einem Techniker untersucht",
        "status.awaiting_approval": "Wartet auf Ihre Freigabe des Kostenvoranschlags",
        "status.repairing": "Wird repariert",
        "status.quality_check": "In der abschließenden Qualitätsprüfung",
        "status.returning": "Wird verpackt und an Sie zurückgeschickt",
        "status.closed": "Abgeschlossen",
        "outcome.repaired": "Repariert",
        "outcome.returned_unrepaired": "Unrepariert zurückgesandt",
        "outcome.no_fault_found": "Kein Fehler gefunden",
        "status.requested": "Anfrage eingegangen",
        "status.awaiting_unit": "Wir warten auf Ihr Paket",
        "status.reviewing_quote": "Ihr Kostenvoranschlag wird geprüft",
        "status.replacing": "Ein neues Gerät wird für Sie vorbereitet",
        "outcome.resolved_remotely": "Ohne Einsendung gelöst",
        "outcome.expired": "Geschlossen: das Gerät ist nicht eingetroffen",
        "outcome.replaced": "Durch ein neues Gerät ersetzt",
        "outcome.traded_in": "Gegen ein neueres Modell eingetauscht",
        "step.received": "Eingegangen", "step.diagnosing": "Diagnose", "step.awaiting_approval": "Ihre Freigabe",
        "step.repairing": "Reparatur", "step.quality_check": "Qualitätsprüfung", "step.returning": "Rückversand",
        "step.closed": "Abgeschlossen",
        "event.rma_opened": "Reparaturauftrag angelegt",
        "event.quote_approved": "Sie haben den Kostenvoranschlag angenommen",
        "event.quote_declined": "Sie haben den Kostenvoranschlag abgelehnt",
        "event.quote_expired": "Der Kostenvoranschlag ist ohne Antwort abgelaufen; das Gerät kommt unrepariert zurück",
        "milestone.intake_receipt": "Zustand Ihres Geräts erfasst; Eingangsbestätigung gesendet",
        "milestone.diagnosis_complete": "Diagnose abgeschlossen",
        "milestone.quote_ready": "Kostenvoranschlag wartet auf Ihre Entscheidung",
        "milestone.approval_reminder": "Erinnerung gesendet: der Kostenvoranschlag wartet auf Ihre Entscheidung",
        "milestone.approval_expired": "Der Kostenvoranschlag ist ohne Antwort abgelaufen",
        "milestone.repair_complete": "Repariert und Qualitätsprüfung bestanden",
        "milestone.unit_shipped": "An Sie zurückgeschickt",
        "page.title": "Reparaturverfolgung", "page.repair": "Reparatur", "page.result": "Ergebnis",
        "page.product": "Produkt", "page.serial": "Seriennummer", "page.registered": "Angelegt",
        "page.progress": "Fortschritt", "page.milestones": "Meilensteine", "page.eta": "Voraussichtlich fertig",
        "page.eta_done": "Abgeschlossen am", "page.current": "aktueller Schritt", "page.done": "erledigt",
        "page.todo": "folgt", "page.quote": "Kostenvoranschlag", "page.approval_needed": "Ihre Freigabe wird benötigt",
        "page.approval_intro": "Ihr Gerät ist nicht durch die Garantie gedeckt. Bitte nehmen Sie den Kostenvoranschlag an, damit wir es reparieren, oder lehnen Sie ihn ab, dann senden wir es unrepariert zurück.",
        "page.quote_version": "Version des Kostenvoranschlags", "page.line": "Position", "page.amount": "Betrag",
        "page.parts": "Ersatzteile", "page.labour": "Arbeitszeit: {hours} Std. × {rate}", "page.skip": "Zum Inhalt springen", "page.total": "Gesamt",
        "page.approve": "Reparatur freigeben", "page.decline": "Ablehnen",
        "page.approved": "Sie haben diesen Kostenvoranschlag am {at} angenommen.",
        "page.declined": "Sie haben diesen Kostenvoranschlag am {at} abgelehnt.",
        "page.expired": "Dieser Kostenvoranschlag ist am {at} ohne Antwort abgelaufen.",
        "page.void": "Dieser Kostenvoranschlag wurde durch einen neueren ersetzt.",
        "page.thanks_approved": "Vielen Dank: Sie haben den Kostenvoranschlag angenommen. Wir reparieren Ihr Gerät jetzt.",
        "page.thanks_declined": "Vielen Dank: Sie haben den Kostenvoranschlag abgelehnt. Wir senden Ihr Gerät unrepariert zurück.",
        "page.not_recorded": "Ihre Antwort wurde nicht gespeichert: {reason}",
        "page.quote_changed": "der Kostenvoranschlag hat sich geändert; bitte prüfen Sie den neuen",
        "page.sms": "SMS", "page.sms_on": "Wir senden kurze Updates per SMS an {phone}.",
        "page.sms_off": "Sie haben SMS abbestellt; per E-Mail informieren wir Sie weiterhin bei jedem Meilenstein.",
        "page.sms_stop": "Keine SMS mehr senden", "page.sms_start": "SMS wieder senden",
        "page.sms_saved": "Ihre Auswahl wurde gespeichert.", "page.receipt": "Eingangsbestätigung (PDF)",
        "page.footer": "Fragen zu Ihrer Reparatur? Antworten Sie auf die Nachricht, die Sie hierher geführt hat, und nennen Sie {number}.",
        "receipt.title": "Eingangsbestätigung", "receipt.number": "RMA-Nummer", "receipt.date": "Eingegangen am",
        "receipt.customer": "Kunde", "receipt.product": "Produkt", "receipt.fault": "Gemeldeter Fehler",
        "receipt.condition": "Zustandsklasse", "receipt.notes": "Zustand",
        "receipt.accessories": "Mitgegebenes Zubehör", "receipt.photos": "Aufgenommene Fotos",
        "receipt.track": "Reparatur verfolgen", "receipt.none": "keines", "receipt.centre": "Servicecenter",
        "receipt.sign": "Unterschrift Kunde",
        "eta.range": "zwischen {earliest} und {latest}",
        "eta.history": "aus {n} Reparaturen in diesem Servicecenter in den letzten {days} Tagen",
        "eta.defaults": "aus unseren Standard-Bearbeitungszeiten (zu wenige Reparaturen in letzter Zeit in diesem Servicecenter)",
        "eta.queue": "einschließlich {n} Geräten, die vor Ihrem auf {stage} warten",
    },
}
STAGE_NOUN = {"en": {"diagnosis": "diagnosis", "approval": "approval", "repair": "repair", "qa": "quality check",
                     "return": "return shipping", "intake": "intake"},
              "de": {"diagnosis": "die Diagnose", "approval": "die Freigabe", "repair": "die Reparatur",
                     "qa": "die Qualitätsprüfung", "return": "den Rückversand", "intake": "die Annahme"}}
MONTHS = {"en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December"],
          "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                 "November", "Dezember"]}


def language(value: str | None) -> str:
    """A shipped language for `value` ('de-DE' -> 'de'); English otherwise."""
    code = (value or "").split("-")[0].lower()
    return code if code in LANGUAGES else DEFAULT


def t(lang: str, key: str, **values) -> str:
    """The text for `key` in `lang` (English when missing), with {placeholders} filled."""
    text = TEXT[language(lang)].get(key) or TEXT[DEFAULT].get(key) or key
    return text.format(**values) if values else text


def day(lang: str, value: date | datetime | None) -> str:
    """'3 June 2024' / '3. Juni 2024'."""
    if value is None:
        return ""
    lang = language(lang)
    month = MONTHS[lang][value.month - 1]
    return f"{value.day}. {month} {value.year}" if lang == "de" else f"{value.day} {month} {value.year}"


def money(lang: str, amount, currency: str) -> str:
    """'1,234.50 SGD' / '1.234,50 EUR'."""
    text = f"{float(amount):,.2f}"
    if language(lang) == "de":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{text} {currency}"


def number(lang: str, value) -> str:
    text = f"{float(value):g}"
    return text.replace(".", ",") if language(lang) == "de" else text
