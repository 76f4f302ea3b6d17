import pytest


def test_profile_shows_what_the_app_renders(client, auth) -> None:
    body = client.get("/v1/me", headers=auth("d-1")).get_json()
    assert set(body) >= {"id", "display_name", "alias", "visibility", "status", "timezone"}
    assert body["status"] == "active"


def test_patch_changes_only_the_given_fields(client, auth) -> None:
    headers = auth("d-1")
    response = client.patch("/v1/me", json={"display_name": "  Ada L.  "}, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["display_name"] == "Ada L."
    response = client.patch(
        "/v1/me", json={"visibility": "public", "timezone": "Europe/Berlin"}, headers=headers
    )
    body = response.get_json()
    assert (body["display_name"], body["visibility"], body["timezone"]) == (
        "Ada L.",
        "public",
        "Europe/Berlin",
    )
    assert client.get("/v1/me", headers=headers).get_json()["visibility"] == "public"
    cleared = client.patch("/v1/me", json={"display_name": None}, headers=headers).get_json()
    assert cleared["display_name"] is None


@pytest.mark.parametrize(
    ("payload", "location", "field"),
    [
        ({"display_name": "a"}, "json", "display_name"),
        ({"display_name": "me@example.com"}, "json", "display_name"),
        ({"display_name": 12}, "json", "display_name"),
        ({"visibility": "everyone"}, "json", "visibility"),
        ({"timezone": "Moon/Base"}, "json", "timezone"),
        ({"nickname": "x"}, "json", "nickname"),
    ],
)
def test_bad_values_are_422_naming_the_field_and_change_nothing(
    client, auth, payload, location, field
) -> None:
    headers = auth("d-2")
    client.patch("/v1/me", json={"display_name": "Bruno"}, headers=headers)
    # A valid change rides along with the bad one: neither may be written.
    response = client.patch("/v1/me", json={"visibility": "alias", **payload}, headers=headers)
    assert response.status_code == 422
    body = response.get_json()
    assert field in body["errors"][location]
    profile = client.get("/v1/me", headers=headers).get_json()
    assert (profile["display_name"], profile["visibility"]) == ("Bruno", "hidden")


def test_a_body_that_is_not_json_is_a_4xx(client, auth) -> None:
    response = client.patch(
        "/v1/me", data="{not json", headers={**auth("d-3"), "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert response.get_json()["code"] == response.status_code
