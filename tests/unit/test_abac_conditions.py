"""The emulator's ABAC evaluator on Microsoft's documented conditions.

Conditions and role GUIDs are those of Microsoft Learn's "Examples to delegate Azure
role assignment management with conditions" (MicrosoftDocs/azure-docs,
articles/role-based-access-control/delegate-role-assignments-examples.md) and the
operator examples of "Azure role assignment condition format and syntax"
(conditions-format.md), written as the documentation writes them.
"""

from __future__ import annotations

import pytest

from emulator import abac

WRITE = "Microsoft.Authorization/roleAssignments/write"
DELETE = "Microsoft.Authorization/roleAssignments/delete"
RA = "microsoft.authorization/roleassignments:"
BACKUP_CONTRIBUTOR = "5e467623-bb1f-42f4-a55d-6e525e11384b"
BACKUP_READER = "a795c7a0-d4a2-40c1-ae25-d81f01202912"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
RBAC_ADMIN = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
UAA = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
MARKETING = "28c35fea-2099-4cf5-8ad9-473547bc9423"
SALES = "86951b8b-723a-407b-a74a-1bca3f0c95d0"
DARA = "ea585310-c95c-4a68-af22-49af4363bbb1"
VM_ADMIN_LOGIN = "1c0163c0-47e6-4577-8991-ea5c82e286e4"

REQ_ROLE = "@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId]"
RES_ROLE = "@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId]"
REQ_TYPE = "@Request[Microsoft.Authorization/roleAssignments:PrincipalType]"
RES_TYPE = "@Resource[Microsoft.Authorization/roleAssignments:PrincipalType]"
BACKUP = f"{{{BACKUP_CONTRIBUTOR}, {BACKUP_READER}}}"

CONSTRAIN_ROLES = f"""
(
 (
  !(ActionMatches{{'{WRITE}'}})
 )
 OR
 (
  {REQ_ROLE} ForAnyOfAnyValues:GuidEquals {BACKUP}
 )
)
AND
(
 (
  !(ActionMatches{{'{DELETE}'}})
 )
 OR
 (
  {RES_ROLE} ForAnyOfAnyValues:GuidEquals {BACKUP}
 )
)
"""

ROLES_AND_PRINCIPAL_TYPES = (
    f"((!(ActionMatches{{'{WRITE}'}})) OR (@Request[Microsoft.Authorization/roleAssignments:"
    f"RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{BACKUP_CONTRIBUTOR}, {BACKUP_READER}}}"
    " AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:"
    f"StringEqualsIgnoreCase {{'User', 'Group'}})) AND ((!(ActionMatches{{'{DELETE}'}})) OR "
    "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:"
    f"GuidEquals {{{BACKUP_CONTRIBUTOR}, {BACKUP_READER}}} AND @Resource[Microsoft."
    "Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase "
    "{'User', 'Group'}))"
)

ROLES_AND_GROUPS = (
    f"((!(ActionMatches{{'{WRITE}'}})) OR (@Request[Microsoft.Authorization/roleAssignments:"
    f"RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{BACKUP_CONTRIBUTOR}, {BACKUP_READER}}}"
    " AND @Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:"
    f"GuidEquals {{{MARKETING}, {SALES}}})) AND ((!(ActionMatches{{'{DELETE}'}})) OR "
    "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:"
    f"GuidEquals {{{BACKUP_CONTRIBUTOR}, {BACKUP_READER}}} AND @Resource[Microsoft."
    "Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals "
    f"{{{MARKETING}, {SALES}}}))"
)

VM_MANAGEMENT = (
    f"((!(ActionMatches{{'{WRITE}'}})) OR (@Request[Microsoft.Authorization/roleAssignments:"
    f"RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{VM_ADMIN_LOGIN}, "
    "fb879df8-f326-4884-b1cf-06f3ad86be52} AND @Request[Microsoft.Authorization/"
    f"roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {{{DARA}}})) AND "
    f"((!(ActionMatches{{'{DELETE}'}})) OR (@Resource[Microsoft.Authorization/roleAssignments:"
    f"RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{VM_ADMIN_LOGIN}, "
    "fb879df8-f326-4884-b1cf-06f3ad86be52} AND @Resource[Microsoft.Authorization/"
    f"roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {{{DARA}}}))"
)

ACR = f"""
(
 (
  !(ActionMatches{{'{WRITE}'}})
 )
 OR
 (
  {REQ_ROLE} ForAnyOfAnyValues:GuidEquals {{{ACR_PULL}}}
  AND
  {REQ_TYPE} ForAnyOfAnyValues:StringEqualsIgnoreCase {{'ServicePrincipal'}}
 )
)
AND
(
 (
  !(ActionMatches{{'{DELETE}'}})
 )
 OR
 (
  {RES_ROLE} ForAnyOfAnyValues:GuidEquals {{{ACR_PULL}}}
  AND
  {RES_TYPE} ForAnyOfAnyValues:StringEqualsIgnoreCase {{'ServicePrincipal'}}
 )
)
"""

ADD_ONLY = (
    f"((!(ActionMatches{{'{WRITE}'}})) OR (@Request[Microsoft.Authorization/roleAssignments:"
    f"RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{BACKUP_CONTRIBUTOR}, {BACKUP_READER}}}))"
)

ALL_BUT_PRIVILEGED = (
    f"((!(ActionMatches{{'{WRITE}'}})) OR (@Request[Microsoft.Authorization/roleAssignments:"
    f"RoleDefinitionId] ForAnyOfAllValues:GuidNotEquals {{{OWNER}, {RBAC_ADMIN}, {UAA}}})) AND "
    f"((!(ActionMatches{{'{DELETE}'}})) OR (@Resource[Microsoft.Authorization/roleAssignments:"
    f"RoleDefinitionId] ForAnyOfAllValues:GuidNotEquals {{{OWNER}, {RBAC_ADMIN}, {UAA}}}))"
)


def write(role: str, principal: str = MARKETING, ptype: str = "Group") -> abac.Context:
    return abac.Context(WRITE, request={RA + "roledefinitionid": role,
                                        RA + "principalid": principal,
                                        RA + "principaltype": ptype})


def delete(role: str, principal: str = MARKETING, ptype: str = "Group") -> abac.Context:
    return abac.Context(DELETE, resource={RA + "roledefinitionid": role,
                                          RA + "principalid": principal,
                                          RA + "principaltype": ptype})


READ = abac.Context("Microsoft.Compute/virtualMachines/read")


@pytest.mark.parametrize(("condition", "ctx", "allowed"), [
    # Constrain roles: Backup Contributor / Backup Reader only, add and remove
    (CONSTRAIN_ROLES, write(BACKUP_CONTRIBUTOR), True),
    (CONSTRAIN_ROLES, write(BACKUP_READER.upper()), True),  # GUIDs compare case-insensitively
    (CONSTRAIN_ROLES, write(OWNER), False),
    (CONSTRAIN_ROLES, delete(BACKUP_READER), True),
    (CONSTRAIN_ROLES, delete(OWNER), False),
    (CONSTRAIN_ROLES, READ, True),  # other actions of the role are not constrained
    # ... and principal types User or Group
    (ROLES_AND_PRINCIPAL_TYPES, write(BACKUP_READER, ptype="user"), True),
    (ROLES_AND_PRINCIPAL_TYPES, write(BACKUP_READER, ptype="ServicePrincipal"), False),
    (ROLES_AND_PRINCIPAL_TYPES, delete(BACKUP_READER, ptype="ServicePrincipal"), False),
    (ROLES_AND_PRINCIPAL_TYPES, write(OWNER, ptype="Group"), False),
    # ... and the groups Marketing or Sales
    (ROLES_AND_GROUPS, write(BACKUP_READER, SALES), True),
    (ROLES_AND_GROUPS, write(BACKUP_READER, DARA), False),
    (ROLES_AND_GROUPS, delete(BACKUP_CONTRIBUTOR, MARKETING), True),
    # virtual machine login roles for Dara
    (VM_MANAGEMENT, write(VM_ADMIN_LOGIN, DARA, "User"), True),
    (VM_MANAGEMENT, write(VM_ADMIN_LOGIN, SALES, "Group"), False),
    (VM_MANAGEMENT, delete(BACKUP_READER, DARA, "User"), False),
    # AcrPull for service principals
    (ACR, write(ACR_PULL, DARA, "ServicePrincipal"), True),
    (ACR, write(ACR_PULL, DARA, "User"), False),
    (ACR, delete(ACR_PULL, DARA, "servicePRINCIPAL"), True),
    # add constrained, remove anything
    (ADD_ONLY, write(BACKUP_READER), True),
    (ADD_ONLY, write(OWNER), False),
    (ADD_ONLY, delete(OWNER), True),
    # every role but Owner, RBAC Administrator and User Access Administrator
    (ALL_BUT_PRIVILEGED, write(ACR_PULL), True),
    (ALL_BUT_PRIVILEGED, write(OWNER), False),
    (ALL_BUT_PRIVILEGED, write(UAA), False),
    (ALL_BUT_PRIVILEGED, delete(RBAC_ADMIN), False),
    (ALL_BUT_PRIVILEGED, delete(BACKUP_READER), True),
])
def test_documented_delegation_examples(condition: str, ctx: abac.Context,
                                         allowed: bool) -> None:
    assert abac.check(condition, "2.0").allows(ctx) is allowed


def test_a_missing_attribute_fails_closed_even_under_a_negative_operator() -> None:
    no_attrs = abac.Context(WRITE)
    assert not abac.evaluate(ALL_BUT_PRIVILEGED, no_attrs)
    assert not abac.evaluate(ACR, no_attrs)


@pytest.mark.parametrize(("expression", "expected"), [
    # conditions-format.md, "Cross product comparison operators" and "ActionMatches"
    ("{'red', 'blue'} ForAnyOfAnyValues:StringEquals {'blue', 'green'}", True),
    ("{'red', 'blue'} ForAnyOfAnyValues:StringEquals {'orange', 'green'}", False),
    ("{'red', 'blue'} ForAllOfAnyValues:StringEquals {'orange', 'red', 'blue'}", True),
    ("{'red', 'blue'} ForAllOfAnyValues:StringEquals {'red', 'green'}", False),
    ("ActionMatches{'Microsoft.Authorization/roleAssignments/*'}", True),
    ("ActionMatches{'Microsoft.Authorization/roleDefinitions/*'}", False),
    ("NOT ActionMatches{'Microsoft.Authorization/roleDefinitions/*'}", True),
    ("ActionMatches{'Microsoft.Authorization/*'} && !SubOperationMatches{'Blob.List'}", True),
    ("{'abcd'} StringLike 'a*c?'", True),
    ("{'abcd'} StringLike 'A*C?'", False),
    ("{'abcd'} StringLikeIgnoreCase 'A*C?'", True),
    ("{'abcd'} StringLike 'a*c'", False),
])
def test_documented_operator_examples(expression: str, expected: bool) -> None:
    assert abac.evaluate(expression, abac.Context(WRITE)) is expected


@pytest.mark.parametrize(("condition", "version", "why"), [
    ("a AND b OR c", "2.0", "GUID"),
    (f"ActionMatches{{'{WRITE}'}} AND ActionMatches{{'{WRITE}'}} OR ActionMatches{{'{WRITE}'}}",
     "2.0", "ambiguous"),
    (CONSTRAIN_ROLES, "1.0", "conditionVersion"),
    ("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] "
     "StringEquals 'blobs-example-container'", "2.0", "cannot be evaluated"),
    ("@Principal[Microsoft.Directory/CustomSecurityAttributes/Id:Engineering_Project] "
     "StringEquals 'Cascade'", "2.0", "cannot be evaluated"),
    ("@Request[Microsoft.Authorization/roleAssignments:PrincipalType] GuidEquals "
     f"{{{OWNER}}}", "2.0", "does not apply"),
    ("@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] GuidEquals "
     f"{{{OWNER}, {UAA}}}", "2.0", "quantifier"),
    ("@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
     "ForAnyOfAnyValues:GuidEquals {'Owner'}", "2.0", "GUID"),
    ("@Request[Microsoft.Authorization/roleAssignments:PrincipalId] NumericEquals 3", "2.0",
     "cannot be evaluated"),
    (f"(ActionMatches{{'{WRITE}'}}", "2.0", r"expected '\)'"),
    ("", "2.0", "empty"),
    (f"ActionMatches{{'{WRITE}'}} OR", "2.0", "expected"),
])
def test_what_it_cannot_evaluate_is_refused(condition: str, version: str, why: str) -> None:
    with pytest.raises(abac.ConditionError, match=why):
        abac.check(condition, version)
