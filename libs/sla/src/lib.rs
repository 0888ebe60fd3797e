//! Business-hours calendars and SLA due-time arithmetic.
