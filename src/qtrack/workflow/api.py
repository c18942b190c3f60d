"""Workflows JSON API: everyone who reads items reads workflows; admins define them."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep
from qtrack.core.errors import Conflict, ValidationFailed
from qtrack.core.openapi import errors
from qtrack.workflow import service as workflow_service
from qtrack.workflow.deps import UsageDep
from qtrack.workflow.models import Workflow
from qtrack.workflow.schemas import WorkflowCreate, WorkflowRead, WorkflowUpdate
from qtrack.workflow.service import StatesInUse, WorkflowNotFound

router = APIRouter(prefix="/api/v1", tags=["workflows"], responses=AUTHENTICATED)
ReadItems = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
AdminConfig = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]


def _read(workflow: Workflow) -> WorkflowRead:
    return WorkflowRead(
        key=workflow.key,
        name=workflow.name,
        builtin=workflow.builtin,
        definition=workflow_service.definition_of(workflow),
    )


@router.get("/workflows")
async def list_workflows(_: ReadItems, session: SessionDep) -> list[WorkflowRead]:
    """Every workflow, by key."""
    return [_read(w) for w in await workflow_service.list_workflows(session)]


@router.get("/workflows/{key}", responses=errors(WorkflowNotFound))
async def get_workflow(key: str, _: ReadItems, session: SessionDep) -> WorkflowRead:
    """One workflow with its states and transitions."""
    return _read(await workflow_service.get_workflow(session, key))


@router.post(
    "/workflows", status_code=status.HTTP_201_CREATED, responses=errors(Conflict, ValidationFailed)
)
async def create_workflow(
    body: WorkflowCreate, _: AdminConfig, session: SessionDep
) -> WorkflowRead:
    """Define a new workflow; an incoherent one is refused with the problems named."""
    workflow = await workflow_service.create_workflow(
        session, key=body.key, name=body.name, definition=body.definition
    )
    return _read(workflow)


@router.put("/workflows/{key}", responses=errors(WorkflowNotFound, StatesInUse, ValidationFailed))
async def update_workflow(
    key: str, body: WorkflowUpdate, _: AdminConfig, session: SessionDep, usage: UsageDep
) -> WorkflowRead:
    """Replace a workflow's name and/or definition; states items are in cannot be removed."""
    workflow = await workflow_service.update_workflow(
        session,
        key=key,
        name=body.name,
        definition=body.definition,
        item_states=usage.item_states,
    )
    return _read(workflow)
