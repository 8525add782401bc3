//! A bookshop API that trusts gatehouse for who is calling and what they may do.
//!
//!   GET    /books        books:read     browse
//!   POST   /books        books:write    add a book
//!   PUT    /books/{id}   books:write    edit a book
//!   DELETE /books/{id}   books:delete   remove a book
//!   POST   /orders       orders:create  order a book
//!
//! No token: 401. A token without the route's scope: 403 with `insufficient_scope`. Run
//! gatehouse, then (README, "Quick start: protecting an API"):
//!
//!   cargo run --example bookshop
//!
//! Environment: GATEHOUSE_ISSUER (default http://127.0.0.1:8080), BOOKSHOP_LISTEN (default
//! 127.0.0.1:8081).

use std::sync::Mutex;

use actix_web::{web, App, HttpResponse, HttpServer};
use gatehouse_resource::{Caller, RequireScope, TokenVerifier, Verification};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
pub struct Book {
    pub id: u64,
    pub title: String,
    pub author: String,
}

#[derive(Debug, Deserialize)]
pub struct BookForm {
    pub title: String,
    pub author: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: u64,
    pub book_id: u64,
    pub quantity: u32,
    /// The `sub` of the token that placed it.
    pub customer: String,
}

#[derive(Debug, Deserialize)]
pub struct OrderForm {
    pub book_id: u64,
    pub quantity: u32,
}

/// The shop's stock and orders, in memory.
#[derive(Default)]
pub struct Shop {
    books: Mutex<Vec<Book>>,
    orders: Mutex<Vec<Order>>,
}

impl Shop {
    pub fn with_books(books: &[(&str, &str)]) -> Self {
        let shop = Shop::default();
        for (title, author) in books {
            shop.add(BookForm {
                title: title.to_string(),
                author: author.to_string(),
            });
        }
        shop
    }

    fn add(&self, form: BookForm) -> Book {
        let mut books = self.books.lock().unwrap();
        let id = books.iter().map(|b| b.id).max().unwrap_or(0) + 1;
        let book = Book {
            id,
            title: form.title,
            author: form.author,
        };
        books.push(book.clone());
        book
    }
}

/// The routes and the scope each needs.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/books")
            .route(web::get().to(list).wrap(RequireScope::new("books:read")))
            .route(web::post().to(add).wrap(RequireScope::new("books:write"))),
    )
    .service(
        web::resource("/books/{id}")
            .route(web::put().to(edit).wrap(RequireScope::new("books:write")))
            .route(
                web::delete()
                    .to(remove)
                    .wrap(RequireScope::new("books:delete")),
            ),
    )
    .service(
        web::resource("/orders").route(
            web::post()
                .to(order)
                .wrap(RequireScope::new("orders:create")),
        ),
    );
}

async fn list(shop: web::Data<Shop>) -> HttpResponse {
    HttpResponse::Ok().json(&*shop.books.lock().unwrap())
}

async fn add(shop: web::Data<Shop>, form: web::Json<BookForm>) -> HttpResponse {
    HttpResponse::Created().json(shop.add(form.into_inner()))
}

async fn edit(
    shop: web::Data<Shop>,
    id: web::Path<u64>,
    form: web::Json<BookForm>,
) -> HttpResponse {
    let mut books = shop.books.lock().unwrap();
    match books.iter_mut().find(|b| b.id == *id) {
        Some(book) => {
            book.title = form.title.clone();
            book.author = form.author.clone();
            HttpResponse::Ok().json(book.clone())
        }
        None => HttpResponse::NotFound().json(serde_json::json!({ "error": "no such book" })),
    }
}

async fn remove(shop: web::Data<Shop>, id: web::Path<u64>) -> HttpResponse {
    let mut books = shop.books.lock().unwrap();
    let before = books.len();
    books.retain(|b| b.id != *id);
    if books.len() < before {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::NotFound().json(serde_json::json!({ "error": "no such book" }))
    }
}

/// The caller is the customer: the order records who placed it.
async fn order(caller: Caller, shop: web::Data<Shop>, form: web::Json<OrderForm>) -> HttpResponse {
    if !shop
        .books
        .lock()
        .unwrap()
        .iter()
        .any(|b| b.id == form.book_id)
    {
        return HttpResponse::NotFound().json(serde_json::json!({ "error": "no such book" }));
    }
    if form.quantity == 0 {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({ "error": "quantity must be at least 1" }));
    }
    let mut orders = shop.orders.lock().unwrap();
    let order = Order {
        id: orders.len() as u64 + 1,
        book_id: form.book_id,
        quantity: form.quantity,
        customer: caller.sub,
    };
    orders.push(order.clone());
    HttpResponse::Created().json(order)
}

#[allow(dead_code)] // also compiled into the tests, which start the shop themselves
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let issuer =
        std::env::var("GATEHOUSE_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let listen = std::env::var("BOOKSHOP_LISTEN").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let verifier = TokenVerifier::discover(Verification::new(&issuer))
        .await
        .map_err(|e| std::io::Error::other(format!("cannot reach gatehouse at {issuer}: {e}")))?;
    let verifier = web::Data::new(verifier);
    let shop = web::Data::new(Shop::with_books(&[
        ("The Left Hand of Darkness", "Ursula K. Le Guin"),
        ("Kindred", "Octavia E. Butler"),
    ]));
    println!("bookshop on http://{listen}, trusting tokens from {issuer}");
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(shop.clone())
            .configure(configure)
    })
    .bind(listen)?
    .run()
    .await
}
