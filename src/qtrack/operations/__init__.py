"""What an administrator sees of the background work: jobs, schedules, runners and the change
feed's consumers. A domain package (it needs accounts for permissions and events for the
feed); `jobs` itself stays below every domain."""
