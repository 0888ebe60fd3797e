//! Tenant-defined conditions and ordered rules.
