def test_signed_out_people_are_sent_to_sign_in(browser):
    response = browser.get("/incidents")
    assert response.status_code == 302
    assert response.location.startswith("/sign-in")


def test_dev_sign_in_then_declare(browser):
    browser.sign_in()
    reference = browser.declare()
    page = browser.get(f"/incidents/{reference}").get_data(as_text=True)
    assert "example.com returning errors" in page
