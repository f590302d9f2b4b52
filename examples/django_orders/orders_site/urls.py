from django.urls import path
from orders import views

urlpatterns = [
    path("orders/<int:pk>/", views.show),
    path("orders/<int:pk>/events", views.send_event),
]
