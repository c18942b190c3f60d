"""The screens that bring the domains together: home, the scan screen, the admin start page,
and the navigation between every screen."""
