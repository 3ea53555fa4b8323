-- "My cases" (CaseService.MyCases) leaves out the cases the user is excluded
-- from. The primary key of case_exclusions starts with the case, so without
-- this index that anti-join reads every exclusion of the tenant; with it,
-- only the user's own, as case_members_user does for memberships.
CREATE INDEX case_exclusions_user ON case_exclusions (tenant_id, user_id, case_id);
