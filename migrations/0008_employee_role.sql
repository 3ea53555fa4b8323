-- The employee role: may file reports and follow their own, nothing else.

ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('threat_manager', 'legal', 'hr', 'compliance', 'auditor', 'admin', 'employee'));
